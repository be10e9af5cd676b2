using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using NetStack.AspNetCore;
using NetStack.Tests.Support;

namespace NetStack.Tests.AspNetCore;

/// <summary>HttpClient (NetStack ConnectCallback) ⇄ Kestrel (NetStack transport) over two stacks on a live pipe link.</summary>
public class KestrelOverStackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Get_Returns_Body_And_Kestrel_Sees_Both_End_Points()
    {
        string? seen = null;
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            seen = $"{c.Connection.RemoteIpAddress}:{c.Connection.RemotePort} -> {c.Connection.LocalIpAddress}:{c.Connection.LocalPort}";
            await c.Response.WriteAsync("hello " + c.Request.Path);
        });
        Assert.Equal("hello /a/b", await w.Client.GetStringAsync("a/b"));
        var tcp = Assert.Single(w.ClientConnections);
        Assert.Equal($"10.0.0.1:{tcp.LocalEndPoint.Port} -> 10.0.0.2:80", seen);
    }

    [Fact]
    public async Task Get_Over_Ipv6_Literal()
    {
        await using HttpWorld w = await HttpWorld.StartAsync(c => c.Response.WriteAsync(c.Connection.RemoteIpAddress!.ToString()));
        Assert.Equal("fd00::1", await w.Client.GetStringAsync("http://[fd00::2]/"));
    }

    [Fact]
    public async Task Post_Large_Body_And_Large_Response_Are_Byte_Exact()
    {
        // 8 MiB each way: the server hashes what arrives and streams back a body of its own.
        byte[] upload = Packets.Payload(8 << 20, 41);
        byte[] download = Packets.Payload((8 << 20) + 7, 42);
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long n = 0;
            PipeReader reader = c.Request.BodyReader;
            while (true)
            {
                ReadResult r = await reader.ReadAsync(c.RequestAborted);
                foreach (ReadOnlyMemory<byte> s in r.Buffer)
                {
                    hash.AppendData(s.Span);
                }
                n += r.Buffer.Length;
                reader.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted)
                {
                    break;
                }
            }
            c.Response.Headers["x-received"] = $"{n} {Convert.ToHexStringLower(hash.GetHashAndReset())}";
            c.Response.ContentLength = download.Length;
            await c.Response.Body.WriteAsync(download, c.RequestAborted);
        }, kestrel: k => k.Limits.MaxRequestBodySize = null);
        using HttpResponseMessage response = await w.Client.PostAsync("upload", new ByteArrayContent(upload));
        response.EnsureSuccessStatusCode();
        Assert.Equal($"{upload.Length} {Convert.ToHexStringLower(SHA256.HashData(upload))}", response.Headers.GetValues("x-received").Single());
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(SHA256.HashData(download), SHA256.HashData(body));
    }

    [Fact]
    public async Task Many_Concurrent_Requests_All_Answered_Over_A_Bounded_Pool()
    {
        await using HttpWorld w = await HttpWorld.StartAsync(
            async c =>
            {
                await Task.Delay(5, c.RequestAborted); // keep a few in flight at once
                await c.Response.WriteAsync("r" + c.Request.Query["i"]);
            },
            handler: h => h.MaxConnectionsPerServer = 8);
        string[] answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => w.Client.GetStringAsync($"x?i={i}")));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => "r" + i), answers);
        Assert.InRange(w.ClientConnections.Count, 2, 8);
    }

    [Fact]
    public async Task Keep_Alive_Reuses_One_Connection()
    {
        var connectionIds = new HashSet<string>();
        await using HttpWorld w = await HttpWorld.StartAsync(c =>
        {
            lock (connectionIds)
            {
                connectionIds.Add(c.Connection.Id);
            }
            return c.Response.WriteAsync("ok");
        });
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("ok", await w.Client.GetStringAsync("k"));
        }
        Assert.Single(w.ClientConnections);
        Assert.Single(connectionIds);
        Assert.StartsWith("NS", connectionIds.Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connection_Close_Ends_The_Tcp_Connection_Gracefully()
    {
        await using HttpWorld w = await HttpWorld.StartAsync(c => c.Response.WriteAsync("bye"));
        for (int i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "c");
            request.Headers.ConnectionClose = true;
            using HttpResponseMessage response = await w.Client.SendAsync(request);
            Assert.Equal("bye", await response.Content.ReadAsStringAsync());
            Assert.True(response.Headers.ConnectionClose);
        }
        Assert.Equal(3, w.ClientConnections.Count); // a new connection each time
        // Kestrel closed first (FIN), the client answered with its FIN: no connection ended in a reset.
        await WaitUntil(() => w.ClientConnections.All(c => c.State is NetStack.Tcp.TcpState.Closed or NetStack.Tcp.TcpState.TimeWait));
        Assert.All(w.ClientConnections, c => Assert.Equal(SocketError.Success, c.Error));
        Assert.Equal(0, w.Network.ClientTcp.Events[NetStack.Tcp.TcpEvent.ResetsSent]);
        Assert.Equal(0, w.Network.ServerTcp.Events[NetStack.Tcp.TcpEvent.ResetsSent]);
    }

    [Fact]
    public async Task Server_Abort_Mid_Body_Is_An_Error_For_The_Client()
    {
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            c.Response.ContentLength = 1 << 20;
            await c.Response.Body.WriteAsync(new byte[1000], c.RequestAborted);
            await c.Response.Body.FlushAsync(c.RequestAborted);
            c.Abort(); // RST
        });
        var buffer = new byte[4096];
        // The RST may overtake the client's reading of the headers (a reset discards unread data, as on Linux):
        // the error then surfaces from GetAsync instead of from the body.
        Exception e = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using HttpResponseMessage response = await w.Client.GetAsync("abort", HttpCompletionOption.ResponseHeadersRead);
            Stream body = await response.Content.ReadAsStreamAsync();
            while (await body.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.True(e is HttpIOException or IOException or HttpRequestException, e.ToString());
        var reset = FindInner<SocketException>(e);
        Assert.NotNull(reset);
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
    }

    [Fact]
    public async Task Client_Cancellation_Aborts_The_Request_On_The_Server()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            c.RequestAborted.Register(() => aborted.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, c.RequestAborted);
        });
        using var cts = new CancellationTokenSource();
        Task<string> request = w.Client.GetStringAsync("slow", cts.Token);
        await started.Task.WaitAsync(Patience);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await aborted.Task.WaitAsync(Patience); // HttpClient dropped the connection (RST/FIN): Kestrel's RequestAborted fires
    }

    [Fact]
    public async Task Kestrel_Shutdown_Closes_Idle_Connections_And_Aborts_Stuck_Requests()
    {
        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            if (c.Request.Path == "/stuck")
            {
                stuck.TrySetResult();
                await Task.Delay(Timeout.Infinite, c.RequestAborted);
            }
            await c.Response.WriteAsync("idle");
        });
        Task<HttpResponseMessage> pending = w.Client.GetAsync("stuck");
        await stuck.Task.WaitAsync(Patience);
        Assert.Equal("idle", await w.Client.GetStringAsync("idle")); // a second connection, idle after this
        using (var grace = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            await w.Host.StopAsync(grace.Token).WaitAsync(Patience); // graceful period, then abort
        }
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => pending.WaitAsync(Patience));
        await WaitUntil(() => w.ClientConnections.All(c => c.State is not NetStack.Tcp.TcpState.Established));
        Assert.Equal(2, w.ClientConnections.Count);
    }

    [Fact]
    public async Task H2c_Prior_Knowledge_Multiplexes_Requests_On_One_Connection()
    {
        byte[] upload = Packets.Payload(1 << 20, 43);
        await using HttpWorld w = await HttpWorld.StartAsync(async c =>
        {
            var ms = new MemoryStream();
            await c.Request.Body.CopyToAsync(ms, c.RequestAborted);
            await c.Response.WriteAsync($"{c.Request.Protocol} {ms.Length} {Convert.ToHexStringLower(SHA256.HashData(ms.ToArray()))}");
        }, HttpProtocols.Http2, kestrel: k => k.Limits.MaxRequestBodySize = null);
        string expected = $"HTTP/2 {upload.Length} {Convert.ToHexStringLower(SHA256.HashData(upload))}";
        var posts = Enumerable.Range(0, 8).Select(async _ =>
        {
            using HttpResponseMessage r = await w.Client.PostAsync("h2", new ByteArrayContent(upload));
            Assert.Equal(HttpVersion.Version20, r.Version);
            return await r.Content.ReadAsStringAsync();
        });
        Assert.All(await Task.WhenAll(posts), s => Assert.Equal(expected, s));
        Assert.Single(w.ClientConnections);
    }

    [Fact]
    public async Task Request_Features_Reach_The_Tcp_Connection()
    {
        await using HttpWorld w = await HttpWorld.StartAsync(c =>
        {
            var tcp = c.Features.Get<INetStackConnectionFeature>()?.Connection;
            var pool = c.Features.Get<IMemoryPoolFeature>()?.MemoryPool;
            return c.Response.WriteAsync($"{tcp?.State} {tcp?.RemoteEndPoint.Address} {pool is not null}");
        });
        Assert.Equal("Established 10.0.0.1 True", await w.Client.GetStringAsync("f"));
    }

    internal static T? FindInner<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T t)
            {
                return t;
            }
        }
        return null;
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(Patience);
        while (!condition())
        {
            await Task.Delay(10, cts.Token);
        }
    }
}
