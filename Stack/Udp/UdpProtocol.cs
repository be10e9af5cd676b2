// Layer: transport (UDP, RFC 768). Demultiplexing to endpoints, checksum rules, port unreachable.
using System.Collections.Concurrent;
using System.Net.Sockets;
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

/// <summary>
/// A datagram no endpoint took, shown to <see cref="UdpProtocol.Forwarder"/>: its addresses and a view of its
/// payload, valid only during the call (<see cref="Packet"/> with <see cref="PacketBuffer.AddRef"/> to keep it).
/// </summary>
public readonly ref struct UdpForwardedDatagram
{
    internal UdpForwardedDatagram(PacketBuffer packet, int payloadOffset, int payloadLength, NetAddress source, ushort sourcePort, NetAddress destination, ushort destinationPort)
    {
        Packet = packet;
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
        Source = source;
        SourcePort = sourcePort;
        Destination = destination;
        DestinationPort = destinationPort;
    }

    /// <summary>The packet holding the datagram (IP header first).</summary>
    public PacketBuffer Packet { get; }

    /// <summary>Where the payload starts in <see cref="Packet"/>.</summary>
    public int PayloadOffset { get; }

    /// <summary>The payload's length.</summary>
    public int PayloadLength { get; }

    /// <summary>The sender's address.</summary>
    public NetAddress Source { get; }

    /// <summary>The sender's port.</summary>
    public ushort SourcePort { get; }

    /// <summary>The address the datagram was going to (any address, on a promiscuous NIC).</summary>
    public NetAddress Destination { get; }

    /// <summary>The port the datagram was going to.</summary>
    public ushort DestinationPort { get; }

    /// <summary>Copies the payload to <paramref name="destination"/> (at least <see cref="PayloadLength"/> long); returns the count.</summary>
    public int CopyPayloadTo(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, PayloadLength);
        Packet.CopyTo(PayloadOffset, destination[..n]);
        return n;
    }
}

/// <summary>Takes a datagram no endpoint is bound for; false leaves it to the stack (ICMP port unreachable).</summary>
public delegate bool UdpForwardHandler(in UdpForwardedDatagram datagram);

internal readonly record struct UdpKey(NetAddress LocalAddress, ushort LocalPort, NetAddress RemoteAddress, ushort RemotePort);

/// <summary>UDP for a <see cref="NetworkStack"/>: creates endpoints and demultiplexes datagrams to them.</summary>
public sealed class UdpProtocol : ITransportProtocol
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = StackMeters.Udp;
    private readonly NetworkStack _stack;
    private readonly ConcurrentDictionary<UdpKey, UdpEndpoint> _bindings = new();
    private readonly Lock _bindLock = new();

    internal UdpProtocol(NetworkStack stack)
    {
        _stack = stack;
        Drops = stack.Telemetry.Counters(s_meter, "netstack.udp.drops", "{datagram}", "UDP datagrams dropped", stack.Telemetry.LoggerFactory.CreateLogger("NetStack.Udp"), "UDP", drops: true, UdpDropReason.ReceiveQueueFull, UdpDropReason.SendQueueFull);
    }

    /// <summary>Drops by reason.</summary>
    public ReasonCounters<UdpDropReason> Drops { get; }

    /// <summary>Bound endpoints.</summary>
    public int BoundCount => _bindings.Count;

    internal NetworkStack Stack => _stack;

    /// <summary>
    /// The catch-all (as gVisor's UDP forwarder): sees each datagram that matches no endpoint — on a promiscuous NIC,
    /// datagrams to any address — before the stack answers port unreachable. It runs on the delivering thread and
    /// must not block; replies go out with <see cref="SendFrom"/>, from the address the datagram was going to.
    /// </summary>
    public UdpForwardHandler? Forwarder { get; set; }

    /// <summary>
    /// Sends one datagram from <paramref name="source"/>:<paramref name="sourcePort"/> (an address of the stack, or
    /// any address through a spoofing NIC: a NAT's reply from the original destination) to
    /// <paramref name="destination"/>:<paramref name="destinationPort"/>. Returns Success, or why it was not sent
    /// (NetworkUnreachable, AddressNotAvailable, MessageSize; a full link queue drops it, counted, as UDP may).
    /// </summary>
    public SocketError SendFrom(NetAddress source, ushort sourcePort, NetAddress destination, ushort destinationPort, ReadOnlySpan<byte> payload) =>
        Send(source, sourcePort, destination, destinationPort, payload, dontFragment: false, out _);

    /// <summary>Sends one datagram; <paramref name="sent"/> is false when the link queue dropped it (counted, not an error).</summary>
    internal SocketError Send(NetAddress source, ushort sourcePort, NetAddress destination, ushort destinationPort, ReadOnlySpan<byte> payload, bool dontFragment, out bool sent)
    {
        sent = false;
        if (payload.Length > ushort.MaxValue - UdpHeader.HeaderLength - (destination.IsV4 ? Ipv4Header.MinLength : 0))
        {
            return SocketError.MessageSize;
        }
        SendResult resolved = _stack.TryResolveRoute(destination, source, out RouteInfo route);
        if (resolved != SendResult.Sent)
        {
            return resolved == SendResult.NoRoute ? SocketError.NetworkUnreachable : SocketError.AddressNotAvailable;
        }
        PacketBuffer packet = _stack.Pool.Rent(UdpHeader.HeaderLength + payload.Length, route.Nic.MaxHeaderLength);
        Span<byte> datagram = packet.Append(UdpHeader.HeaderLength + payload.Length);
        new UdpRepr { SourcePort = sourcePort, DestinationPort = destinationPort, PayloadLength = payload.Length }.Emit(datagram);
        payload.CopyTo(datagram[UdpHeader.HeaderLength..]);
        UdpHeader.WriteChecksum(datagram, NetworkStack.PseudoHeaderSum(route, IpProtocol.Udp, datagram.Length)); // 0 goes out as 0xFFFF (RFC 768)
        switch (_stack.Send(route, IpProtocol.Udp, packet, dontFragment: dontFragment))
        {
            case SendResult.Sent:
                sent = true;
                return SocketError.Success;
            case SendResult.QueueFull:
                Drops.Increment(UdpDropReason.SendQueueFull);
                return SocketError.Success;
            case SendResult.MessageTooBig:
                return SocketError.MessageSize;
            default:
                return SocketError.NoBufferSpaceAvailable;
        }
    }

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
        if (endpoint is null && Forwarder is { } forwarder
            && forwarder(new UdpForwardedDatagram(packet, info.TransportOffset + UdpHeader.HeaderLength, datagram.PayloadLength, info.Source, datagram.SourcePort, info.Destination, datagram.DestinationPort)))
        {
            return;
        }
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
