// Where the forwarder's host sockets come from: the kernel's, except in the forwarder's fuzz target, which hands out
// in-memory peers (socket pairs) instead. One virtual call per dial, flow or echo, never per packet relayed.
using System.Net;
using System.Net.Sockets;

namespace NetStack.Proxy;

/// <summary>Opens the host sockets a <see cref="HostForwarder"/> relays to.</summary>
internal class HostSockets
{
    /// <summary>The kernel's sockets.</summary>
    internal static readonly HostSockets Kernel = new();

    /// <summary>
    /// A TCP socket connected to <paramref name="target"/> (Nagle off: the relay writes what the sandbox sent as it
    /// came). Throws <see cref="SocketException"/> as connect() failed, or <see cref="OperationCanceledException"/>.
    /// </summary>
    internal virtual async ValueTask<Socket> ConnectTcpAsync(IPEndPoint target, CancellationToken cancellationToken)
    {
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A UDP socket connected to <paramref name="target"/> (the kernel filters replies and reports ICMP errors on it).
    /// Throws <see cref="SocketException"/>.
    /// </summary>
    internal virtual Socket ConnectUdp(IPEndPoint target)
    {
        var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(target);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An unprivileged ICMP ("ping") socket; throws <see cref="SocketException"/> where they are not allowed.</summary>
    internal virtual Socket OpenEcho(bool v4) => v4
        ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp)
        : new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.IcmpV6);
}
