// netstack demo: the same-run baseline without HTTP: one TcpConnection stream over the same wire, hashed by the receiver
// like the HTTP bodies, so the demo can say what Kestrel + HttpClient cost on top of TCP.
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using NetStack.Tcp;

namespace NetStack.Cli.Demo;

internal static class DemoRawTcp
{
    /// <summary>Sends <paramref name="length"/> pattern bytes from the server stack to the client stack over a bare TcpConnection.</summary>
    public static async Task<TransferResult> TransferAsync(DemoNetwork network, long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        using TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, 5001));
        Task<TcpConnection> accepted = listener.AcceptAsync(cancellationToken).AsTask();
        await using TcpConnection client = await network.ClientTcp.ConnectAsync(new IPEndPoint(DemoNetwork.ServerAddress, 5001), cancellationToken: cancellationToken).ConfigureAwait(false);
        await using TcpConnection server = await accepted.ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        Task<string> send = Task.Run(async () =>
        {
            long sent = 0;
            while (sent < length)
            {
                int offset = (int)(sent % DemoPattern.BlockLength);
                int n = (int)Math.Min(Math.Min(256 * 1024, length - sent), DemoPattern.BlockLength - offset);
                var chunk = new ReadOnlyMemory<byte>(DemoPattern.Block, offset, n);
                await server.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                sent += n;
            }
            server.ShutdownSend();
            return DemoPattern.Digest(sent);
        }, cancellationToken);
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = await DemoTransfers.ReadAndHashAsync(client, received, progress, cancellationToken).ConfigureAwait(false);
        TimeSpan elapsed = watch.Elapsed;
        string sentHash = await send.ConfigureAwait(false);
        return new TransferResult("raw TCP", total == length ? total : -1, elapsed, sentHash, Convert.ToHexStringLower(received.GetHashAndReset()));
    }
}
