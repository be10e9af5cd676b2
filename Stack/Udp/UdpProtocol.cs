// Layer: transport (UDP, RFC 768). Demultiplexing to endpoints, checksum rules, port unreachable.
using System.Collections.Concurrent;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Udp;

/// <summary>Why UDP dropped a datagram.</summary>
public enum UdpDropReason
{
    /// <summary>Header shorter than 8 bytes or length field inconsistent.</summary>
    Malformed,
    /// <summary>Checksum wrong.</summary>
    BadChecksum,
    /// <summary>Zero checksum over IPv6 (RFC 8200 §8.1).</summary>
    ZeroChecksumOverIpv6,
    /// <summary>No endpoint bound to the port (ICMP port unreachable sent where allowed).</summary>
    NoPort,
    /// <summary>The endpoint's receive queue was full.</summary>
    ReceiveQueueFull,
    /// <summary>The endpoint's queued datagrams already pinned <see cref="Network.NetworkStackOptions.UdpReceiveBufferBytes"/>.</summary>
    ReceiveBufferFull,
    /// <summary>The link refused an outbound datagram (queue full).</summary>
    SendQueueFull,
}

internal readonly record struct UdpKey(NetAddress LocalAddress, ushort LocalPort, NetAddress RemoteAddress, ushort RemotePort);

/// <summary>UDP for a <see cref="NetworkStack"/>: creates endpoints and demultiplexes datagrams to them.</summary>
public sealed class UdpProtocol : ITransportProtocol
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = new("NetStack.Udp", "1.0");
    private readonly NetworkStack _stack;
    private readonly ConcurrentDictionary<UdpKey, UdpEndpoint> _bindings = new();
    private readonly Lock _bindLock = new();

    internal UdpProtocol(NetworkStack stack)
    {
        _stack = stack;
        Drops = new ReasonCounters<UdpDropReason>(s_meter, "netstack.udp.drops", "UDP datagrams dropped");
    }

    /// <summary>Drops by reason.</summary>
    public ReasonCounters<UdpDropReason> Drops { get; }

    /// <summary>Bound endpoints.</summary>
    public int BoundCount => _bindings.Count;

    internal NetworkStack Stack => _stack;

    /// <summary>Creates an unbound UDP endpoint.</summary>
    public UdpEndpoint CreateEndpoint() => new(this);

    /// <summary>Binds or rebinds <paramref name="endpoint"/> under <paramref name="key"/>; port 0 picks an ephemeral port.</summary>
    internal UdpKey Register(UdpEndpoint endpoint, UdpKey key, UdpKey? previous)
    {
        lock (_bindLock)
        {
            if (key.LocalPort == 0)
            {
                // RFC 6056: algorithm 4 over the 3-tuple when connecting, a random start when only binding.
                EphemeralPortSelector ports = _stack.EphemeralPorts;
                var state = (this, key);
                bool found = key.RemotePort != 0
                    ? ports.TrySelect(key.LocalAddress, key.RemoteAddress, key.RemotePort, state, static (s, p) => !s.Item1.PortInUse(s.key with { LocalPort = p }), out ushort port)
                    : ports.TrySelect(state, static (s, p) => !s.Item1.PortInUse(s.key with { LocalPort = p }), out port);
                if (!found)
                {
                    throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse);
                }
                key = key with { LocalPort = port };
            }
            else if ((previous is null || previous.Value.LocalPort != key.LocalPort) && PortInUse(key))
            {
                throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse);
            }
            if (previous is UdpKey old)
            {
                _bindings.TryRemove(old, out _);
            }
            _bindings[key] = endpoint;
            return key;
        }
    }

    internal void Unregister(UdpKey key, UdpEndpoint endpoint)
    {
        lock (_bindLock)
        {
            _bindings.TryRemove(new KeyValuePair<UdpKey, UdpEndpoint>(key, endpoint));
        }
    }

    private bool PortInUse(UdpKey key)
    {
        // A wildcard binding conflicts with every address on the port (no SO_REUSEADDR semantics).
        foreach (var k in _bindings.Keys)
        {
            if (k.LocalPort == key.LocalPort && (k.LocalAddress.IsNone || key.LocalAddress.IsNone || k.LocalAddress == key.LocalAddress))
            {
                return true;
            }
        }
        return false;
    }

    private UdpEndpoint? Find(NetAddress local, ushort localPort, NetAddress remote, ushort remotePort)
    {
        // Most specific first: connected 4-tuple, bound address, wildcard.
        if (_bindings.TryGetValue(new UdpKey(local, localPort, remote, remotePort), out var e)
            || _bindings.TryGetValue(new UdpKey(local, localPort, default, 0), out e)
            || _bindings.TryGetValue(new UdpKey(default, localPort, remote, remotePort), out e)
            || _bindings.TryGetValue(new UdpKey(default, localPort, default, 0), out e))
        {
            return e;
        }
        return null;
    }

    void ITransportProtocol.Deliver(in IpPacketInfo info, PacketBuffer packet)
    {
        // The header lies in the head (the stack pulls the headers up); the payload may continue in segments.
        ReadOnlySpan<byte> head = packet.Head;
        if (info.TransportOffset > head.Length || !UdpHeader.TryCreate(head[info.TransportOffset..], info.TransportLength, out UdpHeader header, out _))
        {
            Drops.Increment(UdpDropReason.Malformed);
            return;
        }
        if (!UdpRepr.TryParse(header, info.Version, out UdpRepr datagram, out _))
        {
            Drops.Increment(UdpDropReason.ZeroChecksumOverIpv6); // RFC 8200 §8.1
            return;
        }
        if (!packet.RxChecksumValidated
            && TransportChecksum.Verify(packet, info.Version, IpProtocol.Udp, info.TransportOffset, info.TransportLength)
                is not (TransportChecksumStatus.Good or TransportChecksumStatus.Absent))
        {
            Drops.Increment(UdpDropReason.BadChecksum);
            return;
        }
        UdpEndpoint? endpoint = Find(info.Destination, datagram.DestinationPort, info.Source, datagram.SourcePort);
        if (endpoint is null)
        {
            Drops.Increment(UdpDropReason.NoPort);
            _stack.Icmp.SendError(info, packet, IcmpErrorKind.PortUnreachable, 0); // RFC 1122 §4.1.3.1
            return;
        }
        if (endpoint.Enqueue(packet, info.TransportOffset + UdpHeader.HeaderLength, datagram.PayloadLength, info.Source, datagram.SourcePort, info.Destination) is UdpDropReason dropped)
        {
            Drops.Increment(dropped);
        }
    }

    void ITransportProtocol.DeliverIcmpError(in IcmpError error)
    {
        // Errors reach only connected endpoints (as on Linux: an unconnected socket cannot tell whose they are).
        if (_bindings.TryGetValue(new UdpKey(error.LocalAddress, error.LocalPort, error.RemoteAddress, error.RemotePort), out var e)
            || _bindings.TryGetValue(new UdpKey(default, error.LocalPort, error.RemoteAddress, error.RemotePort), out e))
        {
            e.ReportError(error);
        }
    }
}
