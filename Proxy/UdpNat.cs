// The UDP NAT: each flow (the sandbox's source, the destination it addressed) is one connected host socket; the
// sandbox's datagrams go out through it, the replies come back with the original destination as their source.
// Bounded (least recently used evicted), idle flows expire, and a host socket's ECONNREFUSED comes back to the
// sandbox as ICMP port unreachable (RFC 1122 §4.1.3.1's meaning of it, rebuilt from the flow).
using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Proxy;

/// <summary>The flow table behind <see cref="UdpProtocol.Forwarder"/>.</summary>
internal sealed class UdpNat : IAsyncDisposable
{
    private const int MaxDatagram = 65535;

    private readonly HostForwarder _owner;
    private readonly Dictionary<FlowKey, Flow> _flows = [];
    private readonly LinkedList<Flow> _lru = []; // most recently used first
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<Flow, Task> _loops = new(); // receive loops still running, flows removed or not
    private bool _disposed;

    internal UdpNat(HostForwarder owner) => _owner = owner;

    internal readonly record struct FlowKey(NetAddress Source, ushort SourcePort, NetAddress Destination, ushort DestinationPort);

    /// <summary>Flows in the table now.</summary>
    internal int Count
    {
        get
        {
            lock (_gate)
            {
                return _flows.Count;
            }
        }
    }

    /// <summary>The catch-all: a datagram no endpoint took goes out through its flow's host socket. Always taken.</summary>
    internal bool OnDatagram(in UdpForwardedDatagram datagram)
    {
        var key = new FlowKey(datagram.Source, datagram.SourcePort, datagram.Destination, datagram.DestinationPort);
        Flow? flow = GetOrCreate(key);
        if (flow is null)
        {
            return true; // refused, answered with ICMP
        }
        ReadOnlySpan<byte> head = datagram.Packet.Head;
        int end = datagram.PayloadOffset + datagram.PayloadLength;
        if (end <= head.Length)
        {
            flow.Send(head[datagram.PayloadOffset..end]);
        }
        else
        {
            byte[] scratch = ArrayPool<byte>.Shared.Rent(datagram.PayloadLength);
            int n = datagram.CopyPayloadTo(scratch);
            flow.Send(scratch.AsSpan(0, n));
            ArrayPool<byte>.Shared.Return(scratch);
        }
        return true;
    }

    private Flow? GetOrCreate(FlowKey key)
    {
        Flow? evicted = null;
        Flow flow;
        lock (_gate)
        {
            if (_disposed)
            {
                return null;
            }
            if (_flows.TryGetValue(key, out Flow? existing))
            {
                existing.Touch();
                _lru.Remove(existing.Node);
                _lru.AddFirst(existing.Node);
                return existing;
            }
            ProxyDecision decision = _owner.Policy.Decide(key.Destination, key.DestinationPort);
            if (!decision.Allowed)
            {
                _owner.Metrics.Refusals.Increment(decision.Refusal);
                SendError(key, decision.Refusal == ProxyRefusal.Unreachable ? IcmpErrorKind.PortUnreachable : IcmpErrorKind.AdministrativelyProhibited);
                return null;
            }
            Socket socket;
            try
            {
                socket = _owner.Sockets.ConnectUdp(decision.Target!);
            }
            catch (SocketException)
            {
                _owner.Metrics.Events.Increment(ProxyEvent.UdpSendFailed);
                SendError(key, IcmpErrorKind.NetUnreachable);
                return null;
            }
            if (_flows.Count >= _owner.Options.MaxUdpFlows && _lru.Last is { } oldest)
            {
                evicted = oldest.Value;
                Remove(evicted);
                _owner.Metrics.Events.Increment(ProxyEvent.UdpFlowEvicted);
            }
            flow = new Flow(this, key, socket, decision.IsDns ? _owner.Options.DnsIdleTimeout : _owner.Options.UdpIdleTimeout);
            _flows[key] = flow;
            _lru.AddFirst(flow.Node);
            Interlocked.Increment(ref _owner.Metrics.UdpFlowsGauge);
            _owner.Metrics.Events.Increment(ProxyEvent.UdpFlowCreated);
        }
        evicted?.Close();
        flow.Start();
        return flow;
    }

    /// <summary>Closes the flows idle past their timeout (the least recently used end of the list).</summary>
    internal void Expire()
    {
        long now = Environment.TickCount64;
        List<Flow>? expired = null;
        lock (_gate)
        {
            // Flows have two timeouts (DNS, other), so walk the whole list rather than stopping at the first live one.
            for (LinkedListNode<Flow>? node = _lru.Last; node is not null;)
            {
                LinkedListNode<Flow>? previous = node.Previous;
                if (node.Value.IsIdle(now))
                {
                    (expired ??= []).Add(node.Value);
                    Remove(node.Value);
                    _owner.Metrics.Events.Increment(ProxyEvent.UdpFlowExpired);
                }
                node = previous;
            }
        }
        foreach (Flow flow in expired ?? [])
        {
            try
            {
                flow.Close();
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                _owner.ReportFault(e); // one flow's failure does not keep the others open
            }
        }
    }

    /// <summary>Under the lock: takes <paramref name="flow"/> out of the table.</summary>
    private void Remove(Flow flow)
    {
        if (_flows.Remove(flow.Key))
        {
            _lru.Remove(flow.Node);
            Interlocked.Decrement(ref _owner.Metrics.UdpFlowsGauge);
        }
    }

    private void Forget(Flow flow)
    {
        lock (_gate)
        {
            if (_flows.TryGetValue(flow.Key, out Flow? current) && current == flow)
            {
                Remove(flow);
            }
        }
    }

    /// <summary>An ICMP error to the sandbox about its flow <paramref name="key"/> (the quote: an 8-byte UDP header).</summary>
    private void SendError(FlowKey key, IcmpErrorKind kind)
    {
        Span<byte> header = stackalloc byte[UdpHeader.HeaderLength];
        new UdpRepr { SourcePort = key.SourcePort, DestinationPort = key.DestinationPort, PayloadLength = 0 }.Emit(header);
        IcmpFlowError.Send(_owner.Stack, key.Source, key.Destination, IpProtocol.Udp, header, kind);
    }

    /// <summary>Closes every flow and waits for their receive loops, so that no reply reaches the stack afterwards.</summary>
    public async ValueTask DisposeAsync()
    {
        List<Flow> all;
        lock (_gate)
        {
            _disposed = true;
            all = [.. _flows.Values];
            foreach (Flow f in all)
            {
                Remove(f);
            }
        }
        all.ForEach(f => f.Close());
        await Task.WhenAll(_loops.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); // a closed socket ends its loop at once
    }

    /// <summary>One flow: its host socket and the loop relaying replies to the sandbox.</summary>
    private sealed class Flow(UdpNat nat, FlowKey key, Socket socket, TimeSpan idle)
    {
        private long _lastActivity = Environment.TickCount64;

        public FlowKey Key { get; } = key;

        private readonly long _idleMs = (long)idle.TotalMilliseconds;
        private LinkedListNode<Flow>? _node;

        /// <summary>The flow's place in the recency list.</summary>
        public LinkedListNode<Flow> Node => _node ??= new LinkedListNode<Flow>(this);

        public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);

        public bool IsIdle(long now) => now - Volatile.Read(ref _lastActivity) >= _idleMs;

        public void Start()
        {
            Task loop = ReceiveLoopAsync();
            nat._loops[this] = loop;
            if (loop.IsCompleted)
            {
                nat._loops.TryRemove(this, out _);
            }
        }

        public void Send(ReadOnlySpan<byte> payload)
        {
            Touch();
            try
            {
                socket.Send(payload, SocketFlags.None, out SocketError error);
                if (error == SocketError.Success)
                {
                    nat._owner.Metrics.AddUp(payload.Length);
                    return;
                }
                if (error == SocketError.ConnectionRefused)
                {
                    RefusedByHost(); // an earlier datagram's ICMP error, reported on this send
                    return;
                }
            }
            catch (ObjectDisposedException)
            {
            }
            nat._owner.Metrics.Events.Increment(ProxyEvent.UdpSendFailed);
        }

        public void Close() => socket.Dispose();

        private void RefusedByHost()
        {
            nat._owner.Metrics.Events.Increment(ProxyEvent.UdpPortUnreachable);
            nat.SendError(Key, IcmpErrorKind.PortUnreachable);
        }

        /// <summary>
        /// Waits with a zero-length MSG_PEEK (no buffer held while idle: a flow costs a socket, not 64 KiB), then
        /// takes the datagram into a pooled buffer and sends it to the sandbox from the original destination.
        /// </summary>
        private async Task ReceiveLoopAsync()
        {
            UdpProtocol udp = nat._owner.Stack.Udp;
            try
            {
                while (true)
                {
                    try
                    {
                        await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek).ConfigureAwait(false);
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                    {
                        RefusedByHost();
                        continue;
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.MessageSize)
                    {
                        // a peek of a datagram into no buffer reports truncation on some kernels: it is there
                    }
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
                    try
                    {
                        int n = socket.Receive(buffer, SocketFlags.None, out SocketError error);
                        if (error == SocketError.ConnectionRefused)
                        {
                            RefusedByHost();
                            continue;
                        }
                        if (error is not (SocketError.Success or SocketError.WouldBlock or SocketError.MessageSize))
                        {
                            return;
                        }
                        if (error == SocketError.Success)
                        {
                            Touch();
                            nat._owner.Metrics.AddDown(n);
                            udp.SendFrom(Key.Destination, Key.DestinationPort, Key.Source, Key.SourcePort, buffer.AsSpan(0, n));
                        }
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                nat.Forget(this); // closed (expired, evicted, disposed) or failed
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                nat._owner.ReportFault(e);
                nat.Forget(this);
                Close();
            }
            finally
            {
                nat._loops.TryRemove(this, out _);
            }
        }
    }
}
