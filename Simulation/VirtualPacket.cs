// What a fault rule sees of a packet: who sent it to whom, its protocol, ports, TCP flags and sizes, parsed from the
// wire bytes without allocating (rules run on every packet while any is installed).
using System.Buffers.Binary;
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
/// when the packet is not TCP or UDP (or an IPv6 packet with extension headers).
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

    /// <summary>IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).</summary>
    public byte Protocol { get; init; }

    /// <summary>Transport source port, or 0.</summary>
    public int SourcePort { get; init; }

    /// <summary>Transport destination port, or 0.</summary>
    public int DestinationPort { get; init; }

    /// <summary>TCP flags, or <see cref="TcpFlags.None"/>.</summary>
    public TcpFlags Flags { get; init; }

    /// <summary>Bytes of the whole IP packet.</summary>
    public int Length { get; init; }

    /// <summary>Transport payload bytes (after the TCP or UDP header), or the IP payload for other protocols.</summary>
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

    /// <summary>Parses the packet's head; false when it is not an IPv4 or IPv6 packet with a whole header.</summary>
    internal static bool TryParse(PacketBuffer packet, string from, Func<NetAddress, string?> owner, out VirtualPacket parsed)
    {
        ReadOnlySpan<byte> head = packet.Head;
        parsed = default;
        if (head.IsEmpty)
        {
            return false;
        }
        int version = head[0] >> 4;
        NetAddress source, destination;
        byte protocol;
        int transport;
        if (version == 4 && head.Length >= 20)
        {
            transport = (head[0] & 0xF) * 4;
            protocol = head[9];
            source = NetAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(head[12..]));
            destination = NetAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(head[16..]));
            if ((BinaryPrimitives.ReadUInt16BigEndian(head[6..]) & 0x1FFF) != 0)
            {
                transport = int.MaxValue; // a later fragment: no transport header
            }
        }
        else if (version == 6 && head.Length >= 40)
        {
            transport = 40;
            protocol = head[6];
            source = NetAddress.FromV6(BinaryPrimitives.ReadUInt128BigEndian(head[8..]));
            destination = NetAddress.FromV6(BinaryPrimitives.ReadUInt128BigEndian(head[24..]));
        }
        else
        {
            return false;
        }
        int sourcePort = 0, destinationPort = 0, payload = Math.Max(0, packet.Length - Math.Min(transport, packet.Length));
        TcpFlags flags = TcpFlags.None;
        if (protocol == 6 && head.Length >= transport + 20)
        {
            sourcePort = BinaryPrimitives.ReadUInt16BigEndian(head[transport..]);
            destinationPort = BinaryPrimitives.ReadUInt16BigEndian(head[(transport + 2)..]);
            flags = (TcpFlags)head[transport + 13];
            payload = Math.Max(0, packet.Length - transport - ((head[transport + 12] >> 4) * 4));
        }
        else if (protocol == 17 && head.Length >= transport + 8)
        {
            sourcePort = BinaryPrimitives.ReadUInt16BigEndian(head[transport..]);
            destinationPort = BinaryPrimitives.ReadUInt16BigEndian(head[(transport + 2)..]);
            payload = Math.Max(0, packet.Length - transport - 8);
        }
        parsed = new VirtualPacket
        {
            From = from,
            To = owner(destination),
            Source = source,
            Destination = destination,
            Protocol = protocol,
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            Flags = flags,
            Length = packet.Length,
            PayloadLength = payload,
        };
        return true;
    }
}
