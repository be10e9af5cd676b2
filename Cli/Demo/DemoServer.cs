// netstack demo: the Kestrel app on the server stack. GET /download streams a pattern body and remembers the
// pattern's SHA-256 for what it sent (GET /hash returns it); POST /upload hashes what arrives and answers "<bytes> <sha256>"; GET /hello is
// the short request.
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using NetStack.AspNetCore;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Cli.Demo;

/// <summary>Kestrel serving the demo's endpoints over the NetStack transport.</summary>
internal sealed class DemoServer : IAsyncDisposable
{
    private static readonly byte[] Hello = "hello"u8.ToArray();

    private readonly ConcurrentDictionary<string, string> _sentHashes = new();
    private IHost? _host;

    /// <summary>The server side of the last bulk transfer (for its statistics).</summary>
    public TcpConnection? BulkConnection { get; private set; }

    public static async Task<DemoServer> StartAsync(NetworkStack stack, IPEndPoint endPoint, HttpProtocols protocols, CancellationToken cancellationToken)
    {
        var server = new DemoServer();
        server._host = new HostBuilder()
            .ConfigureWebHost(web => web
                .UseKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Limits.MaxRequestBodySize = null; // the upload is 1 GiB by default
                    kestrel.Listen(endPoint, listen => listen.Protocols = protocols);
                })
                .UseNetStack(stack)
                .Configure(app => app.Run(server.HandleAsync)))
            .Build();
        await server._host.StartAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _host.StopAsync(timeout.Token).ConfigureAwait(false);
            _host.Dispose();
        }
    }

    private Task HandleAsync(HttpContext context) => context.Request.Path.Value switch
    {
        "/hello" => HelloAsync(context),
        "/download" => DownloadAsync(context),
        "/hash" => HashAsync(context),
        "/upload" => UploadAsync(context),
        _ => NotFound(context),
    };

    private static Task HelloAsync(HttpContext context)
    {
        context.Response.ContentLength = Hello.Length;
        return context.Response.Body.WriteAsync(Hello, 0, Hello.Length, context.RequestAborted);
    }

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    private async Task DownloadAsync(HttpContext context)
    {
        if (!long.TryParse(context.Request.Query["bytes"], CultureInfo.InvariantCulture, out long length) || length < 0)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        string id = context.Request.Query["id"].ToString();
        BulkConnection = context.Features.Get<INetStackConnectionFeature>()?.Connection;
        context.Response.ContentLength = length;
        PipeWriter writer = context.Response.BodyWriter;
        long sent = 0, unflushed = 0;
        while (sent < length)
        {
            Memory<byte> memory = writer.GetMemory(64 * 1024);
            ReadOnlySpan<byte> chunk = DemoPattern.At(sent, (int)Math.Min(memory.Length, length - sent));
            chunk.CopyTo(memory.Span); // the one copy into Kestrel's output pipe
            writer.Advance(chunk.Length);
            sent += chunk.Length;
            unflushed += chunk.Length;
            if (unflushed >= 256 * 1024 || sent == length)
            {
                unflushed = 0;
                FlushResult result = await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                if (result.IsCanceled || result.IsCompleted)
                {
                    return;
                }
            }
        }
        _sentHashes[id] = DemoPattern.Digest(sent); // every byte came from the pattern: its digest, computed once
    }

    private async Task HashAsync(HttpContext context)
    {
        if (!_sentHashes.TryRemove(context.Request.Query["id"].ToString(), out string? hex))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        await context.Response.WriteAsync(hex, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task UploadAsync(HttpContext context)
    {
        BulkConnection = context.Features.Get<INetStackConnectionFeature>()?.Connection;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        PipeReader reader = context.Request.BodyReader;
        long received = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                hash.AppendData(segment.Span); // hashed where it lies in the input pipe: no copy
            }
            received += result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        await context.Response.WriteAsync(FormattableString.Invariant($"{received} {Convert.ToHexStringLower(hash.GetHashAndReset())}"), context.RequestAborted).ConfigureAwait(false);
    }
}
