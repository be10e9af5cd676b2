// Port forwarding host → sandbox (pasta's -t/-u, slirp4netns's add_hostfwd): a host listener whose connections the
// stack opens into the sandbox and relays like any other; for UDP, each host peer gets a stack endpoint of its own,
// closed after UdpIdleTimeout without a datagram either way, at most MaxUdpFlows of them per forward.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NetStack.Diagnostics;
using NetStack.Udp;

namespace NetStack.Proxy;

/// <summary>One port forward: its host socket and the loop serving it.</summary>
internal sealed class PortForwarder : IAsyncDisposable
{
    private readonly HostForwarder _owner;
    private readonly ProxyPortForward _forward;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<EndPoint, UdpPeer> _udpPeers = new();
    private Task _loop = Task.CompletedTask;

    private PortForwarder(HostForwarder owner, ProxyPortForward forward, Socket listener)
    {
        _owner = owner;
        _forward = forward;
        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>Where the host listener is bound.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Binds the host socket (throws SocketException when the port is taken) and starts serving it.</summary>
    public static PortForwarder Start(HostForwarder owner, ProxyPortForward forward)
    {
        bool tcp = forward.Protocol == ProxyProtocol.Tcp;
        var socket = new Socket(forward.Host.AddressFamily, tcp ? SocketType.Stream : SocketType.Dgram, tcp ? ProtocolType.Tcp : ProtocolType.Udp);
        try
        {
            socket.Bind(forward.Host);
            if (tcp)
            {
                socket.Listen(512);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var forwarder = new PortForwarder(owner, forward, socket);
        forwarder._loop = tcp ? forwarder.AcceptLoopAsync() : forwarder.DatagramLoopAsync();
        return forwarder;
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket host = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                host.NoDelay = true;
                _ = OpenAsync(host);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private async Task OpenAsync(Socket host)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(_owner.Options.DialTimeout);
            var connection = await _owner.Stack.Tcp.ConnectAsync(_forward.Sandbox, _owner.SandboxConnection, cancellationToken: timeout.Token).ConfigureAwait(false);
            _owner.Metrics.Events.Increment(ProxyEvent.PortForwardAccepted);
            _owner.Relay(connection, host, countOpen: true);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            _owner.Metrics.Events.Increment(ProxyEvent.PortForwardFailed);
            host.LingerState = new LingerOption(true, 0); // the sandbox refused: so does the forward (RST)
            host.Dispose();
        }
    }

    /// <summary>UDP: each host peer's datagrams go to the sandbox from a stack endpoint of its own, whose replies go back to that peer.</summary>
    private async Task DatagramLoopAsync()
    {
        byte[] buffer = new byte[65535];
        EndPoint any = new IPEndPoint(_forward.Host.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        try
        {
            while (true)
            {
                SocketReceiveFromResult r = await _listener.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
                if (!_udpPeers.TryGetValue(r.RemoteEndPoint, out UdpPeer? peer))
                {
                    if (_udpPeers.Count >= _owner.Options.MaxUdpFlows)
                    {
                        _owner.Metrics.Events.Increment(ProxyEvent.PortForwardFailed);
                        continue;
                    }
                    UdpEndpoint endpoint = _owner.Stack.Udp.CreateEndpoint();
                    endpoint.Connect(_forward.Sandbox);
                    peer = new UdpPeer(endpoint);
                    _udpPeers[r.RemoteEndPoint] = peer;
                    _owner.Metrics.Events.Increment(ProxyEvent.PortForwardAccepted);
                    _ = RepliesAsync(peer, r.RemoteEndPoint);
                }
                peer.Touch();
                try
                {
                    peer.Endpoint.SendTo(buffer.AsSpan(0, r.ReceivedBytes));
                    _owner.Metrics.AddDown(r.ReceivedBytes);
                }
                catch (SocketException)
                {
                    _owner.Metrics.Events.Increment(ProxyEvent.UdpSendFailed); // ICMP from the sandbox: its port is closed
                }
                catch (ObjectDisposedException)
                {
                    _owner.Metrics.Events.Increment(ProxyEvent.UdpSendFailed); // expired just now: the peer's next datagram opens a new flow
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    /// <summary>Closes the UDP peers idle past <see cref="ProxyOptions.UdpIdleTimeout"/> (their reply loops end with them).</summary>
    internal void Expire()
    {
        long cutoff = Environment.TickCount64 - (long)_owner.Options.UdpIdleTimeout.TotalMilliseconds;
        foreach ((EndPoint key, UdpPeer peer) in _udpPeers)
        {
            if (peer.LastActivity < cutoff && _udpPeers.TryRemove(new KeyValuePair<EndPoint, UdpPeer>(key, peer)))
            {
                peer.Endpoint.Dispose();
                _owner.Metrics.Events.Increment(ProxyEvent.UdpFlowExpired);
            }
        }
    }

    private async Task RepliesAsync(UdpPeer flow, EndPoint peer)
    {
        UdpEndpoint endpoint = flow.Endpoint;
        byte[] buffer = new byte[65535];
        try
        {
            while (true)
            {
                UdpReceiveFromResult r;
                try
                {
                    r = await endpoint.ReceiveFromAsync(buffer, _stop.Token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    continue; // port unreachable from the sandbox: reported, the forward stays
                }
                flow.Touch();
                await _listener.SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), SocketFlags.None, peer, _stop.Token).ConfigureAwait(false);
                _owner.Metrics.AddUp(r.ReceivedBytes);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            _owner.ReportFault(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _loop.ConfigureAwait(false);
        foreach (UdpPeer peer in _udpPeers.Values)
        {
            peer.Endpoint.Dispose();
        }
        _stop.Dispose();
    }

    /// <summary>A host peer of a UDP port forward: its stack endpoint and when a datagram last went either way.</summary>
    private sealed class UdpPeer(UdpEndpoint endpoint)
    {
        private long _lastActivity = Environment.TickCount64;

        public UdpEndpoint Endpoint { get; } = endpoint;

        /// <summary>Milliseconds (Environment.TickCount64) of the last datagram either way.</summary>
        public long LastActivity => Volatile.Read(ref _lastActivity);

        public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);
    }
}
