// The harness's decorators on a port's chains: the outbound gate (capture as sent, MTU black hole, rules,
// partitions, held pairs) and the inbound tap (capture as received, a router's forwarding).
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Simulation;

/// <summary>
/// First decorator on a port's outbound chain (closest to the owner's stack): captures what the owner sends, then
/// applies the network's faults before the port's impairment. Driven by the subnet's pump only (one thread).
/// </summary>
internal sealed class FaultGate(IPacketSink inner, VirtualNetwork network) : PacketSinkDecorator(inner)
{
    private readonly Queue<(PacketBuffer Packet, string To)> _held = new();
    private int _releaseVersion;

    /// <summary>The port (set once the port exists; packets cannot flow before).</summary>
    public VirtualLink? Link { get; set; }

    public override void Enqueue(PacketBuffer packet)
    {
        if (Link is not { } link)
        {
            Inner.Enqueue(packet);
            return;
        }
        network.Capture?.Write(link.InterfaceId, packet, inbound: false);
        if (link.MtuFast is > 0 and int mtu && packet.Length > mtu)
        {
            link.Drops.Increment(FaultDrop.TooBig);
            packet.Release();
            return;
        }
        if (!network.HasFaults)
        {
            Inner.Enqueue(packet);
            return;
        }
        if (!VirtualPacket.TryParse(packet, link.Owner, network.OwnerOf, out VirtualPacket parsed))
        {
            Inner.Enqueue(packet);
            return;
        }
        switch (network.Judge(parsed))
        {
            case Verdict.Drop:
                link.Drops.Increment(FaultDrop.Rule);
                packet.Release();
                return;
            case Verdict.Reset:
                link.Drops.Increment(FaultDrop.Rule);
                PacketBuffer? reset = ResetOf(packet);
                packet.Release();
                if (reset is not null)
                {
                    Inner.Enqueue(reset);
                }
                return;
            case Verdict.Partitioned:
                link.Drops.Increment(FaultDrop.Partition);
                packet.Release();
                return;
            case Verdict.Hold:
                _held.Enqueue((packet, parsed.To!));
                return;
            default:
                Inner.Enqueue(packet);
                return;
        }
    }

    public override TimeSpan? TimeUntilNextDue =>
        _held.Count > 0 && network.ReleaseVersion != Volatile.Read(ref _releaseVersion) ? TimeSpan.Zero : Inner.TimeUntilNextDue;

    public override int DeliverDue()
    {
        int released = ReleaseHeld();
        if (released > 0)
        {
            Inner.Flush();
        }
        return released + Inner.DeliverDue();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            while (_held.TryDequeue(out var held))
            {
                Link?.Drops.Increment(FaultDrop.HeldAtDispose);
                held.Packet.Release();
            }
        }
    }

    /// <summary>After a release, passes on (in their order) the held packets whose pair is no longer held.</summary>
    private int ReleaseHeld()
    {
        int version = network.ReleaseVersion;
        if (_held.Count == 0 || version == _releaseVersion)
        {
            return 0;
        }
        _releaseVersion = version;
        int n = _held.Count, released = 0;
        for (int i = 0; i < n; i++)
        {
            (PacketBuffer packet, string to) = _held.Dequeue();
            if (network.IsHeld(Link!.Owner, to))
            {
                _held.Enqueue((packet, to));
            }
            else
            {
                Inner.Enqueue(packet);
                released++;
            }
        }
        return released;
    }

    /// <summary>
    /// A bare RST in place of a TCP segment: same addresses, ports and sequence number, no options or payload
    /// (RFC 9293 §3.10.7.4, RFC 5961 §3.2: a RST at exactly RCV.NXT resets the connection). Null for other packets.
    /// </summary>
    private static PacketBuffer? ResetOf(PacketBuffer packet)
    {
        ReadOnlySpan<byte> head = packet.Head;
        // The IP headers (IPv4 options, IPv6 extension headers) are kept as they are; a fragment or a routed IPv6
        // packet (whose checksum names another destination, RFC 8200 §8.1) gets no reset and is dropped.
        if (!IpLayout.TryLocate(head, packet.Length, out IpLayout ip, out _) || ip.Protocol != IpProtocol.Tcp || ip.IsFragment
            || ip.HasRoutingHeader || head.Length < ip.TransportOffset + 20)
        {
            return null;
        }
        bool v4 = !ip.IsV6;
        int ipLength = ip.TransportOffset;
        PacketBuffer reset = packet.Pool.Rent(ipLength + 20, packet.Headroom);
        Span<byte> bytes = reset.Append(ipLength + 20);
        head[..(ipLength + 20)].CopyTo(bytes);
        Span<byte> tcp = bytes[ipLength..];
        tcp[12] = 5 << 4; // data offset: no options
        tcp[13] = (byte)TcpFlags.Rst;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 0); // no ACK number without ACK
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 0); // window
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], 0);
        uint pseudo;
        if (v4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], (ushort)(ipLength + 20));
            BinaryPrimitives.WriteUInt16BigEndian(bytes[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(bytes[10..], InternetChecksum.Compute(bytes[..ipLength]));
            pseudo = InternetChecksum.PseudoHeaderSumV4(bytes[12..16], bytes[16..20], 6, 20);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes[4..], (ushort)(ipLength - 40 + 20));
            pseudo = InternetChecksum.PseudoHeaderSumV6(bytes[8..24], bytes[24..40], 6, 20);
        }
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Compute(tcp[..20], pseudo));
        reset.NetworkProtocol = packet.NetworkProtocol;
        return reset;
    }
}

/// <summary>What the network's faults say of one packet.</summary>
internal enum Verdict
{
    Pass,
    Drop,
    Reset,
    Partitioned,
    Hold,
}

/// <summary>
/// Last decorator on a port's inbound chain (closest to the owner's link): captures what the owner receives; on a
/// router's leg, forwards every packet not addressed to the leg to the router's other leg, hop limit decremented.
/// </summary>
internal sealed class InboundTap(IPacketSink inner, VirtualNetwork network) : PacketSinkDecorator(inner)
{
    public VirtualLink? Link { get; set; }

    /// <summary>A router's other leg, where packets for elsewhere go; null on a host's port.</summary>
    public ChannelEndpoint? ForwardTo { get; set; }

    public override void Enqueue(PacketBuffer packet)
    {
        if (Link is not { } link)
        {
            Inner.Enqueue(packet);
            return;
        }
        network.Capture?.Write(link.InterfaceId, packet, inbound: true);
        if (ForwardTo is { } next && !link.Port.Nic.HasAddress(DestinationOf(packet)))
        {
            Forward(link, next, packet);
            return;
        }
        Inner.Enqueue(packet);
    }

    private static NetAddress DestinationOf(PacketBuffer packet)
    {
        ReadOnlySpan<byte> head = packet.Head;
        return head.Length >= 40 && head[0] >> 4 == 6 ? NetAddress.FromV6(BinaryPrimitives.ReadUInt128BigEndian(head[24..]))
            : head.Length >= 20 && head[0] >> 4 == 4 ? NetAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(head[16..]))
            : default;
    }

    private static void Forward(VirtualLink link, ChannelEndpoint next, PacketBuffer packet)
    {
        Span<byte> head = packet.Head;
        bool v4 = head[0] >> 4 == 4;
        int hop = v4 ? 8 : 7;
        if (head[hop] <= 1)
        {
            // RFC 1812 §5.3.1, RFC 8200 §3: a router never forwards a packet whose hop limit runs out (no ICMP here).
            link.Drops.Increment(FaultDrop.Forwarding);
            packet.Release();
            return;
        }
        if (v4)
        {
            // RFC 1624: the checksum follows the TTL/protocol word incrementally.
            ushort old = BinaryPrimitives.ReadUInt16BigEndian(head[8..]);
            head[8]--;
            ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(head[10..]);
            BinaryPrimitives.WriteUInt16BigEndian(head[10..], InternetChecksum.Update(checksum, old, BinaryPrimitives.ReadUInt16BigEndian(head[8..])));
        }
        else
        {
            head[7]--;
        }
        if (next.WritePackets(new ReadOnlySpan<PacketBuffer>(ref packet)) == 0)
        {
            link.Drops.Increment(FaultDrop.Forwarding);
            packet.Release();
        }
    }
}
