// What a fault rule sees of a packet: who sent it to whom, its protocol, ports, TCP flags and sizes, parsed from the
// wire bytes without allocating (rules run on every packet while any is installed).
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Simulation;

/// <summary>What a rule (<see cref="VirtualNetwork.AddRule"/>) does to a packet it matches.</summary>
public enum FaultAction
{
    /// <summary>Drops the packet (counted under <see cref="FaultDrop.Rule"/>).</summary>
    Drop,
    /// <summary>
    /// Replaces a TCP segment with a bare RST of the same sequence number (RFC 9293 §3.10.7.4: a reset whose sequence
    /// number is the next expected one is accepted), so the receiver aborts the connection. Other packets are dropped.
    /// </summary>
    Reset,
}

/// <summary>
/// A packet on its way from <see cref="From"/> to <see cref="To"/>, as a rule sees it. Ports and flags are zero
/// when the packet is not TCP or UDP, or is a fragment after the first (its transport header travels in the first).
/// </summary>
public readonly record struct VirtualPacket
{
    /// <summary>The host (or router) that sent it.</summary>
    public required string From { get; init; }

    /// <summary>The host its destination address belongs to, or null when no host owns it.</summary>
    public string? To { get; init; }

    /// <summary>IP source address.</summary>
    public NetAddress Source { get; init; }

    /// <summary>IP destination address.</summary>
    public NetAddress Destination { get; init; }

    /// <summary>IP protocol number of the upper layer, past any IPv6 extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).</summary>
    public byte Protocol { get; init; }

    /// <summary>Transport source port, or 0.</summary>
    public int SourcePort { get; init; }

    /// <summary>Transport destination port, or 0.</summary>
    public int DestinationPort { get; init; }

    /// <summary>TCP flags, or <see cref="TcpFlags.None"/>.</summary>
    public TcpFlags Flags { get; init; }

    /// <summary>Bytes of the whole IP packet.</summary>
    public int Length { get; init; }

    /// <summary>Transport payload bytes (after the TCP or UDP header), or the bytes after the IP headers for other protocols.</summary>
    public int PayloadLength { get; init; }

    /// <summary>True for TCP.</summary>
    public bool IsTcp => Protocol == 6;

    /// <summary>True for UDP.</summary>
    public bool IsUdp => Protocol == 17;

    /// <summary>True for a TCP SYN without ACK (a connection request).</summary>
    public bool IsSyn => IsTcp && (Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{From}→{To ?? Destination.ToString()} proto {Protocol} {SourcePort}→{DestinationPort} [{Flags}] {Length} B";

    /// <summary>
    /// Parses the packet's head with the stack's own parsers (<see cref="IpLayout"/>: IPv4 options, the IPv6
    /// extension-header walk and fragments, RFC 8200 §4; then the TCP or UDP header view); false when it is not an IP
    /// packet whose headers lie in its head. Never throws (the bytes are whatever the sender put on the wire).
    /// </summary>
    internal static bool TryParse(PacketBuffer packet, string from, Func<NetAddress, string?> owner, out VirtualPacket parsed)
    {
        ReadOnlySpan<byte> head = packet.Head;
        parsed = default;
        if (!IpLayout.TryLocate(head, packet.Length, out IpLayout ip, out _))
        {
            return false;
        }
        NetAddress source, destination;
        if (ip.IsV6)
        {
            Ipv6Header.TryCreate(head, packet.Length, out Ipv6Header v6, out _); // accepted by the locator already
            source = NetAddress.FromV6(v6.Source);
            destination = NetAddress.FromV6(v6.Destination);
        }
        else
        {
            Ipv4Header.TryCreate(head, packet.Length, out Ipv4Header v4, out _);
            source = NetAddress.FromV4(v4.Source);
            destination = NetAddress.FromV4(v4.Destination);
        }
        int sourcePort = 0, destinationPort = 0, payload = ip.TransportLength;
        TcpFlags flags = TcpFlags.None;
        ReadOnlySpan<byte> transport = ip.HasTransportHeader && ip.TransportOffset <= head.Length ? head[ip.TransportOffset..] : default;
        if (ip.Protocol == IpProtocol.Tcp && TcpHeader.TryCreate(transport, out TcpHeader tcp, out _))
        {
            sourcePort = tcp.SourcePort;
            destinationPort = tcp.DestinationPort;
            flags = tcp.Flags;
            payload = ip.TransportLength - tcp.HeaderLength;
        }
        else if (ip.Protocol == IpProtocol.Udp && UdpHeader.TryCreate(transport, ip.TransportLength, out UdpHeader udp, out _))
        {
            sourcePort = udp.SourcePort;
            destinationPort = udp.DestinationPort;
            payload = ip.TransportLength - UdpHeader.HeaderLength;
        }
        parsed = new VirtualPacket
        {
            From = from,
            To = owner(destination),
            Source = source,
            Destination = destination,
            Protocol = (byte)ip.Protocol,
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            Flags = flags,
            Length = packet.Length,
            PayloadLength = Math.Max(0, payload),
        };
        return true;
    }
}
