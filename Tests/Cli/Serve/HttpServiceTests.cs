using System.Net;
using System.Security.Cryptography;
using System.Text;
using NetStack.Cli.Demo;
using NetStack.Cli.Serve;
using NetStack.Http;

namespace NetStack.Tests.Cli.Serve;

/// <summary>
/// The HTTP test service of `netstack serve` and `netstack demo` (Kestrel over the NetStack transport) on the demo's
/// in-memory network, HttpClient on the other stack: exact bodies of GET /bytes/N, digests of POST /sha256, GET
/// /hello, the bulk connection it remembers, and the error statuses.
/// </summary>
public sealed class HttpServiceTests : IAsyncLifetime
{
    private DemoNetwork _network = null!;
    private HttpService _service = null!;
    private HttpClient _client = null!;

    public Task InitializeAsync()
    {
        _network = new DemoNetwork(new DemoNetworkOptions());
        _service = new HttpService();
        _service.Start(_network.Server, 8080);
        _client = new HttpClient(NetStackHttp.CreateHandler(_network.Client))
        {
            BaseAddress = new Uri("http://10.0.0.2:8080/"),
            Timeout = TimeSpan.FromSeconds(60),
        };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _service.DisposeAsync();
        await _network.DisposeAsync();
    }

    private static byte[] Pattern(long offset, int length)
    {
        byte[] expected = new byte[length];
        for (int i = 0; i < length; i++)
        {
            expected[i] = DemoPattern.Block[(offset + i) % DemoPattern.BlockLength];
        }
        return expected;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65_537)]
    [InlineData(DemoPattern.BlockLength + 17)] // crosses the pattern block's end
    [InlineData(3 * DemoPattern.BlockLength - 1)]
    public async Task GetBytes_BodyIsThePatternExactly(int length)
    {
        using HttpResponseMessage response = await _client.GetAsync($"bytes/{length}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(length, response.Content.Headers.ContentLength);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(Pattern(0, length), body);
        Assert.Equal(length, _service.BytesOut);
    }

    [Fact]
    public async Task HeadBytes_LengthWithoutBody()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "bytes/1234567");
        using HttpResponseMessage response = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1234567, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(0, _service.BytesOut);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5_000_011)]
    public async Task PostSha256_AnswersTheBodysDigest(int length)
    {
        byte[] body = new byte[length];
        new Random(length).NextBytes(body);
        using var content = new ByteArrayContent(body);
        using HttpResponseMessage response = await _client.PostAsync("sha256", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string hex = Convert.ToHexStringLower(SHA256.HashData(body));
        Assert.Equal(hex + "\n", await response.Content.ReadAsStringAsync());
        Assert.Equal(length.ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues(HttpService.BodyLengthHeader)));
        Assert.Equal($"{length} {hex}", _service.LastUpload);
        Assert.Equal(length, _service.BytesIn);
    }

    [Fact]
    public async Task PostSha256_ChunkedBody_Digest()
    {
        byte[] body = Pattern(12345, 777_777);
        using var content = new StreamContent(new MemoryStream(body)); // no length: chunked
        content.Headers.ContentLength = null;
        using var request = new HttpRequestMessage(HttpMethod.Post, "sha256") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)) + "\n", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("GET", "bytes/abc", HttpStatusCode.BadRequest)]
    [InlineData("GET", "bytes/-1", HttpStatusCode.BadRequest)]
    [InlineData("GET", "bytes/+5", HttpStatusCode.BadRequest)]
    [InlineData("GET", "bytes/99999999999999999999", HttpStatusCode.BadRequest)]
    [InlineData("GET", "bytes/", HttpStatusCode.BadRequest)]
    [InlineData("POST", "bytes/5", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "sha256", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "nothing", HttpStatusCode.NotFound)]
    [InlineData("GET", "", HttpStatusCode.NotFound)]
    public async Task BadRequests_GetTheirStatus(string method, string path, HttpStatusCode status)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new ByteArrayContent(Encoding.ASCII.GetBytes("x"));
        }
        using HttpResponseMessage response = await _client.SendAsync(request);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(0, _service.BytesOut);
    }

    [Fact]
    public async Task GetHello_AnswersHello_OtherMethodsAreRefused()
    {
        Assert.Equal("hello", await _client.GetStringAsync("hello"));
        using HttpResponseMessage post = await _client.PostAsync("hello", new ByteArrayContent([1]));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Null(_service.LastBulkConnection); // a short request is not a bulk transfer
    }

    [Fact]
    public async Task BulkRequests_RememberTheirTcpConnection_ForItsStatistics()
    {
        byte[] body = await _client.GetByteArrayAsync("bytes/100000");
        Assert.Equal(100000, body.Length);
        NetStack.Tcp.TcpConnection connection = Assert.IsType<NetStack.Tcp.TcpConnection>(_service.LastBulkConnection);
        Assert.True(connection.GetStatistics().BytesSent >= 100000);
    }

    [Fact]
    public async Task KeepAlive_ManyRequestsOnOneConnection_CountedOnce()
    {
        for (int i = 0; i < 20; i++)
        {
            byte[] body = await _client.GetByteArrayAsync($"bytes/{i * 1000}");
            Assert.Equal(Pattern(0, i * 1000), body);
        }
        Assert.Equal(20, _service.Requests);
        Assert.Equal(0, _service.Failed);
        Assert.Equal(Enumerable.Range(0, 20).Sum(i => i * 1000), _service.BytesOut);
    }
}
