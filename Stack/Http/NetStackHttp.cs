// Layer: application glue. HttpClient over the stack: a SocketsHttpHandler.ConnectCallback that opens a TCP
// connection on a NetworkStack and hands HttpClient the TcpConnection (a Stream with NetworkStream semantics:
// Memory-based reads and writes, one read and one write at once, a zero-byte read waits for data, Dispose
// completes a pending read, a reset is an IOException wrapping SocketException(ConnectionReset)).
// It lives in Stack/ because System.Net.Http is part of the BCL: an HttpClient user needs no ASP.NET Core.
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Http;

/// <summary>Runs <see cref="HttpClient"/> over a <see cref="NetworkStack"/>.</summary>
public static class NetStackHttp
{
    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> that connects over <paramref name="stack"/>: the request's
    /// host must be an IP literal unless <see cref="NetStackConnectOptions.ResolveHost"/> resolves it.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(NetworkStack stack, NetStackConnectOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= new NetStackConnectOptions();
        TcpProtocol tcp = stack.Tcp;
        return async (context, cancellationToken) =>
        {
            DnsEndPoint target = context.DnsEndPoint;
            IPAddress[] addresses = await ResolveAsync(target.Host, options, cancellationToken).ConfigureAwait(false);
            SocketException? last = null;
            foreach (IPAddress address in addresses)
            {
                try
                {
                    TcpConnection connection = await tcp.ConnectAsync(new IPEndPoint(address, target.Port), options.Connection, options.LocalEndPoint, cancellationToken).ConfigureAwait(false);
                    if (options.NoDelay)
                    {
                        connection.NoDelay = true;
                    }
                    return connection;
                }
                catch (SocketException e)
                {
                    last = e; // try the next address, like Socket.ConnectAsync(DnsEndPoint)
                }
            }
            throw last ?? new SocketException((int)SocketError.HostNotFound);
        };
    }

    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose connections run over <paramref name="stack"/> (no proxy: the
    /// stack's peers are not reachable through the host's proxy settings).
    /// </summary>
    public static SocketsHttpHandler CreateHandler(NetworkStack stack, NetStackConnectOptions? options = null) => new()
    {
        ConnectCallback = ConnectCallback(stack, options),
        UseProxy = false,
    };

    private static async ValueTask<IPAddress[]> ResolveAsync(string host, NetStackConnectOptions options, CancellationToken cancellationToken)
    {
        // A DnsEndPoint may carry an IPv6 literal with or without its URI brackets.
        ReadOnlySpan<char> literal = host.AsSpan();
        if (literal.Length > 2 && literal[0] == '[' && literal[^1] == ']')
        {
            literal = literal[1..^1];
        }
        if (IPAddress.TryParse(literal, out IPAddress? address))
        {
            return [address];
        }
        if (options.ResolveHost is { } resolve)
        {
            IPAddress[] resolved = await resolve(host, cancellationToken).ConfigureAwait(false);
            if (resolved is { Length: > 0 })
            {
                return resolved;
            }
        }
        throw new SocketException((int)SocketError.HostNotFound);
    }
}
