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
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[64 * 1024];
        while (true)
        {
            int n = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            Interlocked.Add(ref BytesInField, n);
            await connection.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref BytesOutField, n);
        }
        connection.ShutdownSend();
    }
}
