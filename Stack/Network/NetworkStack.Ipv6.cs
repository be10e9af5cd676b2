// Layer: network. IPv6 input with its extension headers acted on in order (RFC 8200 §4), IPv6 output and
// source fragmentation (RFC 8200 §4.5).
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Wire;

namespace NetStack.Network;

public sealed partial class NetworkStack
{
    private readonly SipHash _ipv6FragmentIds;
    private long _ipv6FragmentCount;

    /// <summary>IPv6 input (RFC 8200 §3–§4). The packet is borrowed.</summary>
    private void DeliverIpv6(Nic nic, PacketBuffer packet)
    {
        // Truncated, or a jumbogram (RFC 2675) this link cannot carry.
        if (!Ipv6Header.TryCreate(packet.Head, packet.Length, out Ipv6Header ip, out _))
        {
            Drops.Increment(IpDropReason.Ipv6BadHeader);
            return;
        }
        byte hopLimit = ip.HopLimit;
        if (hopLimit == 0)
        {
            Drops.Increment(IpDropReason.ZeroTtl);
            return;
        }
        var source = NetAddress.FromV6(ip.Source);
        var destination = NetAddress.FromV6(ip.Destination);
        // RFC 4291 §2.7: multicast is never a source; ::1 never arrives from outside (§2.5.3); :: is only used
        // by a host without an address (DAD), which we do not take part in.
        bool loopbackLink = (nic.Link.Capabilities & LinkCapabilities.Loopback) != 0;
        if (source.IsMulticast || source.IsUnspecified || (source.IsLoopback && !loopbackLink))
        {
            Drops.Increment(IpDropReason.BadSourceAddress);
            return;
        }
        // The kernel's ND/MLD multicast on a fresh TUN link is NotForUs here (or ICMP's, on a promiscuous NIC).
        if (IsMartian(nic, source, destination, loopbackLink) is var martian && martian != IpDropReason.None)
        {
            Drops.Increment(martian);
            return;
        }
        bool located = IpLayout.TryLocate(ip, out IpLayout layout, out _);
        byte trafficClass = ip.TrafficClass;
        if (Ipv6Header.Length + ip.PayloadLength < packet.Length)
        {
            packet.TrimTo(Ipv6Header.Length + ip.PayloadLength);
        }
        // RFC 8200 §4: the extension headers are processed in order, each acted on (a malformed chain too: the
        // headers before the fault act first).
        if ((!located || layout.HasExtensionHeaders) && !ProcessExtensionHeaders(nic, packet, ip, source, destination, hopLimit))
        {
            return;
        }
        if (!located)
        {
            Drops.Increment(IpDropReason.Ipv6BadExtensionChain);
            return;
        }
        DeliverTransport(Info(nic, source, destination, layout, hopLimit, trafficClass), packet, layout.ProtocolFieldOffset);
    }

    /// <summary>
    /// Acts on each extension header of <paramref name="ip"/> in order: options, routing, and a Fragment header,
    /// which hands the packet to reassembly. False when the packet was dropped or handed on.
    /// </summary>
    private bool ProcessExtensionHeaders(Nic nic, PacketBuffer packet, in Ipv6Header ip, NetAddress source, NetAddress destination, byte hopLimit)
    {
        var walker = new Ipv6ExtensionWalker(ip);
        while (walker.MoveNext())
        {
            Ipv6ExtensionHeader ext = walker.Current;
            int extOffset = Ipv6Header.Length + ext.Offset;
            switch (ext.Type)
            {
                case IpProtocol.HopByHop:
                case IpProtocol.Ipv6DestinationOptions:
                    if (!ProcessIpv6Options(nic, packet, ext.Bytes, extOffset, source, destination, ip.PayloadLength, hopLimit, ip.TrafficClass))
                    {
                        return false;
                    }
                    break;
                case IpProtocol.Ipv6Route:
                    // RFC 8200 §4.4: we route nothing, so any routing header with segments left is unrecognized:
                    // Parameter Problem code 0 pointing at the Routing Type field. RFC 5095 removed type 0.
                    if (Ipv6RoutingHeader.TryCreate(ext.Bytes, out Ipv6RoutingHeader routing, out _) && routing.SegmentsLeft != 0)
                    {
                        Drops.Increment(IpDropReason.Ipv6RoutingHeader);
                        Icmp.SendError(Info(nic, source, destination, IpProtocol.Ipv6Route, extOffset, ip.PayloadLength, hopLimit, ip.TrafficClass), packet,
                            IcmpErrorKind.ParameterProblem, (uint)(extOffset + Ipv6RoutingHeader.RoutingTypeOffset));
                        return false;
                    }
                    break;
                case IpProtocol.Ipv6Fragment:
                    Reassemble(nic, packet); // atomic fragments come back at once (RFC 6946)
                    return false;
                default:
                    break; // AH: authenticated by nobody here, skipped per its length
            }
        }
        if (walker.Error != WireError.None)
        {
            Drops.Increment(IpDropReason.Ipv6BadExtensionChain);
            return false;
        }
        return true;
    }

    private static IpPacketInfo Info(Nic nic, NetAddress source, NetAddress destination, IpProtocol protocol, int offset, int length, byte hopLimit, byte trafficClass) => new()
    {
        Nic = nic,
        Source = source,
        Destination = destination,
        Protocol = protocol,
        TransportOffset = offset,
        TransportLength = length,
        TimeToLive = hopLimit,
        TrafficClass = trafficClass,
    };

    /// <summary>
    /// Hop-by-hop and destination options (RFC 8200 §4.2): Pad1/PadN and Router Alert are understood; an
    /// unrecognized option acts by the two high-order bits of its type: 00 skip, 01 discard, 10 discard and send
    /// Parameter Problem code 2, 11 the same unless the destination was multicast. Returns false when dropped.
    /// </summary>
    private bool ProcessIpv6Options(Nic nic, PacketBuffer packet, ReadOnlySpan<byte> header, int headerOffset,
        NetAddress source, NetAddress destination, int payloadLength, byte hopLimit, byte trafficClass)
    {
        if (!Ipv6OptionsHeader.TryCreate(header, out Ipv6OptionsHeader options, out _))
        {
            Drops.Increment(IpDropReason.Ipv6BadExtensionChain);
            return false;
        }
        var reader = options.GetOptions();
        int position = headerOffset + Ipv6ExtensionHeader.PrefixLength;
        while (reader.MoveNext())
        {
            Ipv6Option option = reader.Current;
            int optionOffset = position;
            position += option.Length;
            if (option.IsPadding || option.Type == 0x05) // Pad1/PadN, Router Alert (RFC 2711)
            {
                continue;
            }
            int action = option.Type >> 6;
            if (action == 0)
            {
                continue;
            }
            Drops.Increment(IpDropReason.Ipv6UnrecognizedOption);
            if (action == 2 || (action == 3 && !destination.IsMulticast))
            {
                var info = Info(nic, source, destination, IpProtocol.HopByHop, headerOffset, payloadLength, hopLimit, trafficClass);
                Icmp.SendError(info, packet, IcmpErrorKind.UnrecognizedOption, (uint)optionOffset);
            }
            return false;
        }
        if (reader.Error != WireError.None)
        {
            Drops.Increment(IpDropReason.Ipv6BadExtensionChain);
            return false;
        }
        return true;
    }

    /// <summary>
    /// An unpredictable Identification (RFC 7739 §5, RFC 8200 §4.5): a keyed PRF of the destination and a counter,
    /// random to anyone without the stack's key, as Linux draws a random non-zero value per datagram since 5.13.
    /// </summary>
    private uint NextIpv6FragmentId(NetAddress destination)
    {
        uint id = (uint)_ipv6FragmentIds.Hash((ulong)(destination.Value >> 64), (ulong)destination.Value,
            (ulong)Interlocked.Increment(ref _ipv6FragmentCount), 0, 0);
        return id == 0 ? 1 : id;
    }

    private SendResult SendIpv6(in RouteInfo route, IpProtocol protocol, PacketBuffer packet, byte hopLimit, byte trafficClass, bool dontFragment)
    {
        if (packet.Length > ushort.MaxValue || packet.Headroom < Ipv6Header.Length)
        {
            packet.Release();
            Drops.Increment(IpDropReason.MessageTooBig);
            return SendResult.MessageTooBig;
        }
        int transportLength = packet.Length;
        var ip = new Ipv6Repr
        {
            Source = route.Source.Value,
            Destination = route.Destination.Value,
            NextHeader = protocol,
            HopLimit = hopLimit,
            TrafficClass = trafficClass,
            PayloadLength = transportLength,
        };
        ip.Emit(packet.Prepend(Ipv6Header.Length));
        packet.NetworkProtocol = NetworkProtocol.IPv6;
        if (TrySendWhole(route, protocol, packet, Ipv6Header.Length, dontFragment) is SendResult sent)
        {
            return sent;
        }
        // RFC 8200 §4.5: the source fragments. Each fragment: the fixed header, a fragment header and a
        // by-reference slice of the transport packet, offsets in 8-byte units.
        int perFragment = (route.Mtu - Ipv6Header.Length - Ipv6FragmentHeader.Length) & ~7;
        if (perFragment < 8)
        {
            packet.Release();
            Drops.Increment(IpDropReason.FragmentationFailed);
            return SendResult.FragmentationFailed;
        }
        uint id = NextIpv6FragmentId(route.Destination);
        SendResult result = SendResult.Sent;
        try
        {
            for (int offset = 0; offset < transportLength; offset += perFragment)
            {
                int length = Math.Min(perFragment, transportLength - offset);
                bool more = offset + length < transportLength;
                PacketBuffer fragment = Pool.Rent(0, Ipv6Header.Length + Ipv6FragmentHeader.Length + route.Nic.Link.MaxHeaderLength);
                if (!fragment.AppendReference(packet, Ipv6Header.Length + offset, length))
                {
                    fragment.Release();
                    Drops.Increment(IpDropReason.FragmentationFailed);
                    return SendResult.FragmentationFailed;
                }
                new Ipv6FragmentRepr { NextHeader = protocol, FragmentOffset = offset, MoreFragments = more, Identification = id }
                    .Emit(fragment.Prepend(Ipv6FragmentHeader.Length));
                (ip with { NextHeader = IpProtocol.Ipv6Fragment, PayloadLength = Ipv6FragmentHeader.Length + length })
                    .Emit(fragment.Prepend(Ipv6Header.Length));
                fragment.NetworkProtocol = NetworkProtocol.IPv6;
                if (WriteToLink(route.Nic, fragment, fragment: true) != SendResult.Sent)
                {
                    result = SendResult.QueueFull;
                }
            }
        }
        finally
        {
            packet.Release();
        }
        return result;
    }
}
