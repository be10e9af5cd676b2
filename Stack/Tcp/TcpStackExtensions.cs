// Layer: transport (TCP), application API. Entry points on NetworkStack (which cannot know about TCP).
using System.Net;

namespace NetStack.Tcp;

/// <summary>TCP entry points on a <see cref="Network.NetworkStack"/>; TCP is attached with default options on first use.</summary>
public static class TcpStackExtensions
{
    /// <summary>The stack's TCP (attached with default options if <see cref="TcpProtocol.Attach"/> was not called).</summary>
    public static TcpProtocol Tcp(this Network.NetworkStack stack) => TcpProtocol.GetOrAttach(stack);

    /// <summary>Listens on <paramref name="local"/>, like <c>TcpListener.Start(backlog)</c>.</summary>
    public static TcpConnectionListener ListenTcp(this Network.NetworkStack stack, IPEndPoint local, int backlog = 128) =>
        stack.Tcp().Listen(local, backlog);

    /// <summary>Connects to <paramref name="remote"/>, failing with <see cref="System.Net.Sockets.SocketException"/> (TimedOut after the connect timeout).</summary>
    public static Task<TcpConnection> ConnectTcpAsync(this Network.NetworkStack stack, IPEndPoint remote, CancellationToken cancellationToken = default) =>
        stack.Tcp().ConnectAsync(remote, cancellationToken: cancellationToken);
}
