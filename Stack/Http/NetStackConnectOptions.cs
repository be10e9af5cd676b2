// Layer: application glue (HttpClient over the stack). Settings of the SocketsHttpHandler.ConnectCallback factory.
using System.Net;
using NetStack.Tcp;

namespace NetStack.Http;

/// <summary>How <see cref="NetStackHttp"/> opens connections for <see cref="System.Net.Http.SocketsHttpHandler"/>.</summary>
public sealed record NetStackConnectOptions
{
    /// <summary>Per-connection TCP settings (buffers, Nagle, keepalive, connect timeout); the stack's defaults when null.</summary>
    public TcpConnectionOptions? Connection { get; init; }

    /// <summary>
    /// Resolves a host name that is not an IP literal to addresses, tried in order. The stack has no DNS: when
    /// null, a name that is not an address fails with <see cref="System.Net.Sockets.SocketError.HostNotFound"/>.
    /// </summary>
    public Func<string, CancellationToken, ValueTask<IPAddress[]>>? ResolveHost { get; init; }

    /// <summary>
    /// Nagle's algorithm off on every connection opened (true by default, as SocketsHttpHandler sets
    /// <see cref="System.Net.Sockets.Socket.NoDelay"/> on the sockets it opens): with Nagle on, a request written in two
    /// pieces waits for the peer's delayed ACK, ~40 ms per request.
    /// </summary>
    public bool NoDelay { get; init; } = true;

    /// <summary>Local end point to bind (address and/or port); any local address and an ephemeral port when null.</summary>
    public IPEndPoint? LocalEndPoint { get; init; }
}
