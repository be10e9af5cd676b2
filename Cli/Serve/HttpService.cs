// The HTTP test service of `netstack serve` and `netstack demo`: Kestrel over the stack through the NetStack transport
// (AspNetCore/). GET /bytes/N streams N bytes of the demo's deterministic pattern (one shared block, no per-request
// buffer of N bytes); POST /sha256 answers the hex SHA-256 of the request body, hashed where it lies in Kestrel's
// input pipe; GET /hello is the short request.
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NetStack.AspNetCore;
using NetStack.Cli.Demo;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>
/// HTTP on the stack (Kestrel, the NetStack transport; HTTP/1.1 unless asked for h2c): <c>GET /bytes/N</c>,
/// <c>POST /sha256</c> and <c>GET /hello</c>. Byte <c>i</c> of every <c>/bytes</c> body is
/// <c>DemoPattern.Block[i % DemoPattern.BlockLength]</c>.
/// </summary>
public sealed class HttpService : IAsyncDisposable
{
    /// <summary>The standard HTTP port.</summary>
    public const int DefaultPort = 80;

    /// <summary>Name of the response header of <c>POST /sha256</c> that carries the body's length in bytes.</summary>
    public const string BodyLengthHeader = "X-Body-Length";

    private const int ChunkSize = 64 * 1024;
    private const int FlushEvery = 256 * 1024;
    private static readonly byte[] Hello = "hello"u8.ToArray();

    private IHost? _host;
    private long _requests;
    private long _failed;
    private long _bytesIn;
    private long _bytesOut;
    private string? _lastUpload;

    /// <summary>Service name for logs and counters.</summary>
    public string Name => "http";

    /// <summary>Port it listens on.</summary>
    public int Port { get; private set; }

    /// <summary>Requests answered (any status).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests that ended with an error (the client went away, a reset).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Request body bytes hashed.</summary>
    public long BytesIn => Interlocked.Read(ref _bytesIn);

    /// <summary>Response body bytes of <c>/bytes</c> sent.</summary>
    public long BytesOut => Interlocked.Read(ref _bytesOut);

    /// <summary>"length sha256" of the last complete <c>POST /sha256</c> body, or null.</summary>
    public string? LastUpload => Volatile.Read(ref _lastUpload);

    /// <summary>The TCP connection of the last <c>/bytes</c> or <c>/sha256</c> request (for its statistics), or null.</summary>
    public TcpConnection? LastBulkConnection => Volatile.Read(ref _lastBulk);

    private TcpConnection? _lastBulk;

    /// <summary>Starts Kestrel on <paramref name="port"/> of every address of <paramref name="stack"/>.</summary>
    public void Start(NetworkStack stack, int port, TcpConnectionOptions? connectionOptions = null, HttpProtocols protocols = HttpProtocols.Http1) =>
        // Off any synchronization context: binding over the stack is immediate, nothing here waits on the network.
        Task.Run(() => StartAsync(stack, port, connectionOptions, protocols)).GetAwaiter().GetResult();

    /// <inheritdoc cref="Start"/>
    public async Task StartAsync(NetworkStack stack, int port, TcpConnectionOptions? connectionOptions = null, HttpProtocols protocols = HttpProtocols.Http1,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        Port = port;
        await StartCoreAsync(
            kestrel => kestrel.ListenNetStack(stack, new IPEndPoint(IPAddress.IPv6Any, port), listen => listen.Protocols = protocols),
            web => web.UseNetStack(transport => transport.ConnectionOptions = connectionOptions),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts Kestrel on <paramref name="endPoint"/> of the host's own network (kernel sockets, not a stack): the far
    /// side of a forwarder in tests. Port 0 picks one; <see cref="Port"/> tells which.
    /// </summary>
    public async Task StartOnHostAsync(IPEndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint.Port == 0)
        {
            using var probe = new System.Net.Sockets.Socket(endPoint.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            probe.Bind(endPoint);
            endPoint = (IPEndPoint)probe.LocalEndPoint!;
        }
        Port = endPoint.Port;
        await StartCoreAsync(kestrel => kestrel.Listen(endPoint), _ => { }, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartCoreAsync(Action<KestrelServerOptions> listen, Action<IWebHostBuilder> transport, CancellationToken cancellationToken)
    {
        _host = new HostBuilder()
            .ConfigureWebHost(web =>
            {
                web.UseKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Limits.MaxRequestBodySize = null; // uploads of any size: they are hashed as they stream
                    listen(kestrel);
                });
                transport(web);
                web.Configure(app => app.Run(HandleAsync));
            })
            .Build();
        await _host.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the same service on the kernel's sockets at <paramref name="endPoint"/> (port 0: any free port, then
    /// read <see cref="Port"/>): the same-work baseline of <c>netstack demo --kernel</c>.
    /// </summary>
    public async Task StartOnSocketsAsync(IPEndPoint endPoint, HttpProtocols protocols = HttpProtocols.Http1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        _host = new HostBuilder()
            .ConfigureWebHost(web => web
                .UseKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Limits.MaxRequestBodySize = null;
                    kestrel.Listen(endPoint, listen => listen.Protocols = protocols);
                })
                .Configure(app => app.Run(HandleAsync)))
            .Build();
        await _host.StartAsync(cancellationToken).ConfigureAwait(false);
        string bound = _host.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(bound).Port;
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        try
        {
            string path = context.Request.Path.Value ?? "";
            if (path.StartsWith("/bytes/", StringComparison.Ordinal))
            {
                await BytesAsync(context, path["/bytes/".Length..]).ConfigureAwait(false);
            }
            else if (path == "/sha256")
            {
                await Sha256Async(context).ConfigureAwait(false);
            }
            else if (path == "/hello")
            {
                await HelloAsync(context).ConfigureAwait(false);
            }
            else
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            Interlocked.Increment(ref _failed);
        }
    }

    private async Task BytesAsync(HttpContext context, string count)
    {
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        if (!long.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out long length))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = length;
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }
        NoteBulkConnection(context);
        PipeWriter writer = context.Response.BodyWriter;
        CancellationToken aborted = context.RequestAborted;
        long sent = 0, unflushed = 0;
        while (sent < length)
        {
            Memory<byte> memory = writer.GetMemory(ChunkSize);
            ReadOnlySpan<byte> chunk = DemoPattern.At(sent, (int)Math.Min(memory.Length, length - sent));
            chunk.CopyTo(memory.Span); // the one copy, into Kestrel's output pipe
            writer.Advance(chunk.Length);
            sent += chunk.Length;
            unflushed += chunk.Length;
            if (unflushed >= FlushEvery || sent == length)
            {
                Interlocked.Add(ref _bytesOut, unflushed);
                unflushed = 0;
                FlushResult result = await writer.FlushAsync(aborted).ConfigureAwait(false);
                if (result.IsCanceled || result.IsCompleted)
                {
                    return;
                }
            }
        }
    }

    private static async Task HelloAsync(HttpContext context)
    {
        if (!HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        context.Response.ContentLength = Hello.Length;
        await context.Response.Body.WriteAsync(Hello, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task Sha256Async(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        NoteBulkConnection(context);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        PipeReader reader = context.Request.BodyReader;
        CancellationToken aborted = context.RequestAborted;
        long received = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(aborted).ConfigureAwait(false);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                hash.AppendData(segment.Span); // hashed in the input pipe: no copy
            }
            received += result.Buffer.Length;
            Interlocked.Add(ref _bytesIn, result.Buffer.Length);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        string hex = Convert.ToHexStringLower(hash.GetHashAndReset());
        Volatile.Write(ref _lastUpload, FormattableString.Invariant($"{received} {hex}"));
        context.Response.ContentType = "text/plain";
        context.Response.Headers[BodyLengthHeader] = received.ToString(CultureInfo.InvariantCulture);
        await context.Response.WriteAsync(hex + "\n", aborted).ConfigureAwait(false);
    }

    private void NoteBulkConnection(HttpContext context) =>
        Volatile.Write(ref _lastBulk, context.Features.Get<INetStackConnectionFeature>()?.Connection);

    /// <summary>One line of counters.</summary>
    public override string ToString() =>
        $"{Name}/{Port}: requests {Requests} (failed {Failed}), in {BytesIn} B, out {BytesOut} B";

    /// <summary>Stops Kestrel (open requests get 5 s to finish).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _host.StopAsync(timeout.Token).ConfigureAwait(false);
            _host.Dispose();
            _host = null;
        }
    }
}
