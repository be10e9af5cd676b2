using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>RFC 863 discard over TCP: everything received is thrown away; closes after the client's FIN.</summary>
public sealed class DiscardService : TcpService
{
    /// <summary>The standard port (RFC 863).</summary>
    public const int DefaultPort = 9;

    /// <inheritdoc/>
    public override string Name => "discard";

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
        }
        connection.ShutdownSend();
    }
}
