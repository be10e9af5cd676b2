// `netstack serve`: the TCP echo service (RFC 862).
using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>RFC 862 echo over TCP: every byte received is sent back; the reply is closed after the client's FIN.</summary>
public sealed class EchoService : TcpService
{
    /// <summary>The standard port (RFC 862).</summary>
    public const int DefaultPort = 7;

    /// <inheritdoc/>
    public override string Name => "echo";

    /// <inheritdoc/>
    protected override Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken) =>
        ReadUntilFinAsync(connection, async (data, ct) =>
        {
            await connection.WriteAsync(data, ct).ConfigureAwait(false);
            Interlocked.Add(ref BytesOutField, data.Length);
        }, cancellationToken);
}
