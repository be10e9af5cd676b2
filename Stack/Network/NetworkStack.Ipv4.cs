// Layer: network. IPv4 input (RFC 791, RFC 1122 §3.2.1), hand-off to the transports, IPv4 output and fragmentation.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Icmp;
using NetStack.Network.Fragmentation;
using NetStack.Wire;

namespace NetStack.Network;

public sealed partial class NetworkStack
{
    /// <summary>IPv4 input (RFC 791 §3.2, RFC 1122 §3.2.1). The packet is borrowed.</summary>
    private void DeliverIpv4(Nic nic, PacketBuffer packet)
    {
        if (!Ipv4Header.TryCreate(packet.Head, packet.Length, out Ipv4Header ip, out _))
        {
            Drops.Increment(IpDropReason.Ipv4BadHeader);
            return;
        }
        // The header checksum is verified unless the link validated it (the channel endpoint checks every IPv4 header).
        if ((nic.Link.Capabilities & LinkCapabilities.RxChecksumOffload) == 0 && !packet.RxChecksumValidated && !ip.VerifyChecksum())
        {
            Drops.Increment(IpDropReason.Ipv4BadChecksum);
            return;
        }
        // RFC 1122 §3.2.1.8: options are parsed (and ignored) safely; malformed ones drop the packet.
        if (ip.HeaderLength > Ipv4Header.MinLength && !ip.ValidateOptions(out _))
        {
            Drops.Increment(IpDropReason.Ipv4BadOptions);
            return;
        }
        byte ttl = ip.TimeToLive;
        if (ttl == 0)
        {
            Drops.Increment(IpDropReason.ZeroTtl);
            return;
        }
        var source = NetAddress.FromV4(ip.Source);
        var destination = NetAddress.FromV4(ip.Destination);
        // RFC 1122 §3.2.1.3: a host silently discards a datagram whose source is broadcast, multicast or
        // (off a loopback link) 127/8; 0.0.0.0 is only valid while a host learns its address.
        bool loopbackLink = (nic.Link.Capabilities & LinkCapabilities.Loopback) != 0;
        if (source.IsMulticast || source.IsLimitedBroadcast || nic.IsBroadcast(source) || source.IsUnspecified
            || (source.IsLoopback && !loopbackLink))
        {
            Drops.Increment(IpDropReason.BadSourceAddress);
            return;
        }
        if (IsMartian(nic, source, destination, loopbackLink) is var martian && martian != IpDropReason.None)
        {
            Drops.Increment(martian);
            return;
        }
        IpLayout layout = IpLayout.Of(ip);
        byte trafficClass = ip.DifferentiatedServices;
        if (layout.Length < packet.Length)
        {
            packet.TrimTo(layout.Length); // link padding (before reassembly too: an ICMP error quotes the fragment)
        }
        if (layout.IsFragment)
        {
            Reassemble(nic, packet); // RFC 791: MF set or a non-zero offset
            return;
        }
        DeliverTransport(Info(nic, source, destination, layout, ttl, trafficClass), packet, layout.ProtocolFieldOffset);
    }

    /// <summary>
    /// The martian checks of Linux's <c>ip_route_input_slow</c> and <c>ip6_rcv_core</c> that the version-specific
    /// source rules above leave: a source that is one of our own addresses (LAND) or in 0.0.0.0/8 or IPv4-mapped
    /// (RFC 1122 §3.2.1.3, RFC 4291 §2.5.5.2, RFC 6890); a destination that is not ours (NotForUs unless the NIC is
    /// promiscuous) and, on a promiscuous NIC, one that no host may be: loopback (off a loopback link),
    /// unspecified or 0.0.0.0/8, IPv4-mapped. Multicast destinations are left to <see cref="DeliverTransport"/>,
    /// which lets only ICMP have them. <see cref="IpDropReason.None"/> when the packet may go on.
    /// </summary>
    private IpDropReason IsMartian(Nic nic, NetAddress source, NetAddress destination, bool loopbackLink)
    {
        if (source.IsZeroNetwork)
        {
            return IpDropReason.MartianSourceZeroNetwork;
        }
        if (source.IsIpv4Mapped)
        {
            return IpDropReason.MartianSourceIpv4Mapped;
        }
        if (!loopbackLink && IsLocalAddress(source))
        {
            return IpDropReason.MartianSourceOwnAddress;
        }
        if (nic.HasAddress(destination))
        {
            return IpDropReason.None;
        }
        if (!nic.Promiscuous)
        {
            return IpDropReason.NotForUs; // broadcast and multicast reception are not supported
        }
        return (destination.IsLoopback && !loopbackLink) || destination.IsUnspecified || destination.IsZeroNetwork || destination.IsIpv4Mapped
            ? IpDropReason.MartianDestination
            : IpDropReason.None;
    }

    private static IpPacketInfo Info(Nic nic, NetAddress source, NetAddress destination, in IpLayout layout, byte timeToLive, byte trafficClass) => new()
    {
        Nic = nic,
        Source = source,
        Destination = destination,
        Protocol = layout.Protocol,
        TransportOffset = layout.TransportOffset,
        TransportLength = layout.TransportLength,
        TimeToLive = timeToLive,
        TrafficClass = trafficClass,
    };

    /// <summary>Hands a packet to ICMP or a registered transport; unknown protocols get an ICMP error where the RFC asks.</summary>
    private void DeliverTransport(in IpPacketInfo info, PacketBuffer packet, int pointerToProtocol)
    {
        if (info.Protocol == (info.Version == NetworkProtocol.IPv4 ? IpProtocol.Icmp : IpProtocol.IcmpV6))
        {
            Events.Increment(IpEvent.PacketsDelivered);
            Icmp.Deliver(info, packet);
            return;
        }
        if (info.Destination.IsMulticast)
        {
            Drops.Increment(IpDropReason.MartianDestination); // a promiscuous NIC's group traffic is ICMP's alone
            return;
        }
        ITransportProtocol? transport = _transports[(int)info.Protocol];
        if (transport is null)
        {
            Drops.Increment(IpDropReason.UnknownProtocol);
            if (info.Version == NetworkProtocol.IPv4)
            {
                Icmp.SendError(info, packet, IcmpErrorKind.ProtocolUnreachable, 0); // RFC 1122 §3.2.2.1
            }
            else if (info.Protocol != IpProtocol.Ipv6NoNext)
            {
                // RFC 8200 §4: unrecognized Next Header → Parameter Problem code 1 pointing at it.
                Icmp.SendError(info, packet, IcmpErrorKind.UnrecognizedNextHeader, (uint)pointerToProtocol);
            }
            return;
        }
        Events.Increment(IpEvent.PacketsDelivered);
        transport.Deliver(info, packet);
    }

    /// <summary>
    /// Sends a transport packet (its head starts at the transport header, with headroom for the IP header)
    /// along <paramref name="route"/>. Takes ownership of <paramref name="packet"/> whatever the outcome.
    /// Packets over the path MTU are fragmented (IPv4 without DF; IPv6 at the source, RFC 8200 §4.5) unless
    /// they carry GSO options, which the link segments.
    /// </summary>
    internal SendResult Send(in RouteInfo route, IpProtocol protocol, PacketBuffer packet, byte timeToLive = 0, byte trafficClass = 0, bool dontFragment = false)
    {
        ArgumentNullException.ThrowIfNull(packet);
        return route.Destination.IsV4
            ? SendIpv4(route, protocol, packet, timeToLive == 0 ? Options.DefaultTimeToLive : timeToLive, trafficClass, dontFragment)
            : SendIpv6(route, protocol, packet, timeToLive == 0 ? Options.DefaultHopLimit : timeToLive, trafficClass, dontFragment);
    }

    /// <summary>
    /// RFC 6864 §4, RFC 7739 §5: a connection's atomic datagrams take IDs from its own counter; anything else from the
    /// stack's keyed, shared counters (unique per source, destination and protocol while fragments may live).
    /// </summary>
    private ushort Ipv4Identification(in RouteInfo route, IpProtocol protocol, bool dontFragment, int count) =>
        dontFragment && route.Ipv4Ids is { } own
            ? own.Take(count)
            : _ipv4Ids.Next(route.Source.V4, route.Destination.V4, (byte)protocol, count);

    private SendResult SendIpv4(in RouteInfo route, IpProtocol protocol, PacketBuffer packet, byte ttl, byte tos, bool dontFragment)
    {
        int total = Ipv4Header.MinLength + packet.Length;
        if (total > ushort.MaxValue || packet.Headroom < Ipv4Header.MinLength)
        {
            packet.Release();
            Drops.Increment(IpDropReason.MessageTooBig);
            return SendResult.MessageTooBig;
        }
        var ip = new Ipv4Repr
        {
            Source = route.Source.V4,
            Destination = route.Destination.V4,
            Protocol = protocol,
            TimeToLive = ttl,
            Dscp = (byte)(tos >> 2),
            Ecn = (byte)(tos & 3),
            Identification = Ipv4Identification(route, protocol, dontFragment, packet.Gso.IsGso ? Math.Max(packet.SegmentsRepresented, 1) : 1),
            DontFragment = dontFragment,
            PayloadLength = packet.Length,
        };
        ip.Emit(packet.Prepend(Ipv4Header.MinLength));
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        if (TrySendWhole(route, protocol, packet, Ipv4Header.MinLength, dontFragment) is SendResult sent)
        {
            return sent;
        }
        // RFC 791 §3.2: fragment. The fragments reference the payload; the original is released after.
        PacketBuffer[] fragments = System.Buffers.ArrayPool<PacketBuffer>.Shared.Rent((packet.Length / 8) + 2);
        try
        {
            var status = Ipv4Fragmenter.Fragment(packet, route.Mtu, fragments, out int count, Pool);
            packet.Release();
            if (status != Ipv4FragmentationStatus.Fragmented)
            {
                Drops.Increment(IpDropReason.FragmentationFailed);
                return SendResult.FragmentationFailed;
            }
            return WriteFragments(route.Nic, fragments.AsSpan(0, count));
        }
        finally
        {
            Array.Clear(fragments);
            System.Buffers.ArrayPool<PacketBuffer>.Shared.Return(fragments);
        }
    }

    /// <summary>
    /// Sends a packet whose IP header (<paramref name="ipHeaderLength"/> bytes) was just prepended, when it fits the
    /// path MTU or carries GSO options (the link segments it; its GSO offsets move past the IP header); refuses it
    /// when it does not fit and may not be fragmented (IPv4 DF, RFC 1191 §3; IPv6 IPV6_DONTFRAG, RFC 3542 §11.2,
    /// whose sender learns the path MTU from the Packet Too Big generated here, RFC 8201 §4). Null: fragment it.
    /// </summary>
    private SendResult? TrySendWhole(in RouteInfo route, IpProtocol protocol, PacketBuffer packet, int ipHeaderLength, bool dontFragment)
    {
        if (packet.Length <= route.Mtu || packet.Gso.IsGso)
        {
            if (packet.Gso.IsGso || packet.Gso.NeedsChecksum)
            {
                packet.Gso.ChecksumStart = (ushort)(packet.Gso.ChecksumStart + ipHeaderLength);
                packet.Gso.HeaderLength = (ushort)(packet.Gso.HeaderLength + ipHeaderLength);
            }
            return WriteToLink(route.Nic, packet, fragment: false);
        }
        if (dontFragment)
        {
            ReportLocalTooBig(route, protocol, packet, ipHeaderLength);
            packet.Release();
            Drops.Increment(IpDropReason.MessageTooBig);
            return SendResult.MessageTooBig;
        }
        if (packet.Gso.NeedsChecksum)
        {
            // A partial checksum (TxChecksumOffload) is finished before fragmenting: no device sees the whole again.
            int start = ipHeaderLength + packet.Gso.ChecksumStart;
            int field = start + packet.Gso.ChecksumOffset;
            Span<byte> head = packet.Head;
            if (field + 2 <= head.Length)
            {
                BinaryPrimitives.WriteUInt16BigEndian(head[field..], InternetChecksum.Finish(InternetChecksum.Sum(packet, start, packet.Length - start, 0)));
            }
            packet.Gso = default;
        }
        return null;
    }

    /// <summary>
    /// A packet we originate is larger than the path MTU and may not be fragmented: generate the Packet Too Big
    /// (IPv6, RFC 8201 §4) / Fragmentation Needed (IPv4, RFC 1191 §3) for its sender — which is us, so it is
    /// delivered to the transport directly, as if the first hop had sent it. UDP is left out: its send call
    /// already fails with MessageSize.
    /// </summary>
    private void ReportLocalTooBig(in RouteInfo route, IpProtocol protocol, PacketBuffer packet, int ipHeaderLength)
    {
        ITransportProtocol? transport = _transports[(int)protocol];
        if (transport is null || protocol == IpProtocol.Udp)
        {
            return;
        }
        ReadOnlySpan<byte> head = packet.Head;
        bool ports = head.Length >= ipHeaderLength + 8;
        transport.DeliverIcmpError(new IcmpError
        {
            Kind = IcmpErrorKind.PacketTooBig,
            Mtu = route.Mtu,
            Reporter = route.Source,
            LocalAddress = route.Source,
            RemoteAddress = route.Destination,
            Protocol = protocol,
            LocalPort = ports ? BinaryPrimitives.ReadUInt16BigEndian(head[ipHeaderLength..]) : (ushort)0,
            RemotePort = ports ? BinaryPrimitives.ReadUInt16BigEndian(head[(ipHeaderLength + 2)..]) : (ushort)0,
            QuotedSequence = ports ? BinaryPrimitives.ReadUInt32BigEndian(head[(ipHeaderLength + 4)..]) : 0,
            HasQuotedSequence = ports,
        });
    }

    private SendResult WriteFragments(Nic nic, ReadOnlySpan<PacketBuffer> fragments)
    {
        SendResult result = SendResult.Sent;
        foreach (PacketBuffer fragment in fragments)
        {
            if (WriteToLink(nic, fragment, fragment: true) != SendResult.Sent)
            {
                result = SendResult.QueueFull;
            }
        }
        return result;
    }

    /// <summary>The pseudo-header sum for a transport checksum along <paramref name="route"/> (RFC 9293 §3.1, RFC 8200 §8.1).</summary>
    internal static uint PseudoHeaderSum(in RouteInfo route, IpProtocol protocol, int transportLength) =>
        PseudoHeaderSum(route.Source, route.Destination, protocol, transportLength);

    /// <summary>The pseudo-header sum for a transport checksum between two addresses of one version.</summary>
    public static uint PseudoHeaderSum(NetAddress source, NetAddress destination, IpProtocol protocol, int transportLength)
    {
        Span<byte> src = stackalloc byte[16];
        Span<byte> dst = stackalloc byte[16];
        int n = source.WriteBytes(src);
        destination.WriteBytes(dst);
        return n == 4
            ? InternetChecksum.PseudoHeaderSumV4(src[..4], dst[..4], (byte)protocol, transportLength)
            : InternetChecksum.PseudoHeaderSumV6(src, dst, (byte)protocol, transportLength);
    }
}
