// Layer: ASP.NET Core integration. Kestrel's accept loop over a TCP listener: AcceptAsync returns null once unbound.
using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;
using NetStack.Tcp;

namespace NetStack.AspNetCore;

/// <summary>An <see cref="IConnectionListener"/> over a <see cref="TcpConnectionListener"/>.</summary>
internal sealed class NetStackConnectionListener(TcpConnectionListener listener, EndPoint endPoint, NetStackTransportOptions options, MemoryPool<byte> memoryPool)
    : IConnectionListener
{
    private int _unbound;

    public EndPoint EndPoint { get; } = endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        TcpConnection connection;
        try
        {
            connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return null; // unbound: Kestrel's accept loop ends on null
        }
        if (Volatile.Read(ref _unbound) != 0)
        {
            connection.Abort();
            return null;
        }
        if (options.NoDelay)
        {
            connection.NoDelay = true;
        }
        return NetStackConnection.Start(connection, options, memoryPool);
    }

    /// <summary>Stops listening; connections not yet accepted are reset, accepted ones live on.</summary>
    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Volatile.Write(ref _unbound, 1);
        listener.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}
