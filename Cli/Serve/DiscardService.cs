// `netstack serve`: the discard service (RFC 863 over TCP).
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
    protected override Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken) =>
        ReadUntilFinAsync(connection, null, cancellationToken);
}
