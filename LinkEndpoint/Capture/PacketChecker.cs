// Layer: link endpoints, capture inspection. Dissects one captured frame with NetStack's own wire views: link header (raw IP,
// Ethernet with VLAN tags, Linux cooked v1/v2, BSD loopback), IPv4 (options) or IPv6 (extension chain), TCP
// (options), UDP, ICMPv4/ICMPv6; records the layers, the first error and each checksum verdict. Never throws.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Capture;

/// <summary>A checksum verdict, as tshark's <c>*.checksum.status</c> has them plus the UDP zero cases.</summary>
internal enum ChecksumVerdict
{
    /// <summary>Verifies.</summary>
    Good,
    /// <summary>Does not verify.</summary>
    Bad,
    /// <summary>Cannot be checked here (fragment, bytes not captured, header not parsed).</summary>
    Unverified,
    /// <summary>UDP over IPv4 with checksum 0: none was computed (RFC 768).</summary>
    None,
    /// <summary>UDP over IPv6 with checksum 0: not allowed (RFC 8200 §8.1).</summary>
    ZeroOverIpv6,
}

/// <summary>What <see cref="PacketChecker.Check"/> found in one frame.</summary>
internal sealed class PacketReport
{
    /// <summary>Layers parsed, outermost first (e.g. ethernet, vlan, ipv4, tcp).</summary>
    public List<string> Layers { get; } = new(6);

    /// <summary>The layer where the first error was found, or null.</summary>
    public string? ErrorLayer { get; private set; }

    /// <summary>The first error (truncated, bad_length, bad_header_length, bad_option, bad_version, bad_field, …), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Checksum verdicts by name: ipv4, tcp, udp, icmp, icmpv6.</summary>
    public List<(string Name, ChecksumVerdict Verdict)> Checksums { get; } = new(2);

    /// <summary>Records <paramref name="error"/> at <paramref name="layer"/> unless an earlier error was recorded.</summary>
    public void Fail(string layer, string error)
    {
        if (Error is null)
        {
            ErrorLayer = layer;
            Error = error;
        }
    }

    /// <summary>Clears the report for reuse.</summary>
    public void Reset()
    {
        Layers.Clear();
        Checksums.Clear();
        ErrorLayer = null;
        Error = null;
    }
}

/// <summary>Dissects captured frames.</summary>
internal static class PacketChecker
{
    /// <summary>pcap link types (LINKTYPE_*) this checker reads.</summary>
    public const int LinkNull = 0, LinkEthernet = 1, LinkRawLegacy = 12, LinkRawOpenBsd = 14, LinkRaw = 101, LinkLinuxSll = 113,
        LinkLoop = 108, LinkIpv4 = 228, LinkIpv6 = 229, LinkLinuxSll2 = 276;

    /// <summary>A short name for a link type.</summary>
    public static string LinkName(int linkType) => linkType switch
    {
        LinkNull => "null",
        LinkEthernet => "ethernet",
        LinkRawLegacy or LinkRawOpenBsd or LinkRaw => "raw",
        LinkLinuxSll => "linux_sll",
        LinkLinuxSll2 => "linux_sll2",
        LinkLoop => "loop",
        LinkIpv4 => "ipv4",
        LinkIpv6 => "ipv6",
        _ => $"linktype_{linkType}",
    };

    /// <summary>
    /// Dissects <paramref name="frame"/> (the captured bytes) of a frame that was <paramref name="wireLength"/> bytes
    /// on the wire, with pcap link type <paramref name="linkType"/>, into <paramref name="report"/>.
    /// </summary>
    public static void Check(int linkType, ReadOnlySpan<byte> frame, int wireLength, PacketReport report)
    {
        report.Reset();
        bool snapped = wireLength > frame.Length;
        if (!TryLink(linkType, frame, report, out ReadOnlySpan<byte> ip, out int etherType))
        {
            return;
        }
        switch (etherType)
        {
            case 0x0800:
                Ipv4(ip, snapped, report);
                break;
            case 0x86DD:
                Ipv6(ip, snapped, report);
                break;
            case -1:
                if (ip.IsEmpty)
                {
                    report.Fail("ip", "truncated");
                }
                else if (ip[0] >> 4 == 4)
                {
                    Ipv4(ip, snapped, report);
                }
                else if (ip[0] >> 4 == 6)
                {
                    Ipv6(ip, snapped, report);
                }
                else
                {
                    report.Fail("ip", "bad_version");
                }
                break;
            default:
                report.Layers.Add($"ethertype_0x{etherType:x4}");
                break;
        }
    }

    // The link header: where the IP packet starts and which protocol it carries (-1: by the version nibble).
    private static bool TryLink(int linkType, ReadOnlySpan<byte> frame, PacketReport report, out ReadOnlySpan<byte> ip, out int etherType)
    {
        ip = default;
        etherType = -1;
        switch (linkType)
        {
            case LinkRawLegacy or LinkRawOpenBsd or LinkRaw or LinkIpv4 or LinkIpv6:
                ip = frame;
                return true;
            case LinkEthernet:
                report.Layers.Add("ethernet");
                if (frame.Length < 14)
                {
                    report.Fail("ethernet", "truncated");
                    return false;
                }
                etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
                int offset = 14;
                // IEEE 802.1Q / 802.1ad tags (at most two, QinQ).
                for (int tags = 0; tags < 2 && etherType is 0x8100 or 0x88A8; tags++)
                {
                    report.Layers.Add("vlan");
                    if (frame.Length < offset + 4)
                    {
                        report.Fail("vlan", "truncated");
                        return false;
                    }
                    etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[(offset + 2)..]);
                    offset += 4;
                }
                ip = frame[offset..];
                return true;
            case LinkLinuxSll:
                report.Layers.Add("linux_sll");
                if (frame.Length < 16)
                {
                    report.Fail("linux_sll", "truncated");
                    return false;
                }
                etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[14..]);
                ip = frame[16..];
                return true;
            case LinkLinuxSll2:
                report.Layers.Add("linux_sll2");
                if (frame.Length < 20)
                {
                    report.Fail("linux_sll2", "truncated");
                    return false;
                }
                etherType = BinaryPrimitives.ReadUInt16BigEndian(frame);
                ip = frame[20..];
                return true;
            case LinkNull or LinkLoop:
                report.Layers.Add("loopback");
                if (frame.Length < 4)
                {
                    report.Fail("loopback", "truncated");
                    return false;
                }
                ip = frame[4..]; // the address family is in the writer's byte order; the version nibble decides
                return true;
            default:
                report.Fail("link", "unsupported_link_type");
                return false;
        }
    }

    private static void Ipv4(ReadOnlySpan<byte> packet, bool snapped, PacketReport report)
    {
        report.Layers.Add("ipv4");
        if (!Ipv4Header.TryCreate(packet, out Ipv4Header ip, out WireError error))
        {
            report.Fail("ipv4", snapped && error is WireError.Truncated or WireError.BadTotalLength ? "snapped" : Name(error));
            // The header checksum is still checkable when the header itself was captured (only its total length is off).
            if (error is WireError.BadTotalLength || (error is WireError.Truncated && packet.Length >= Ipv4Header.MinLength))
            {
                report.Checksums.Add(("ipv4", Ipv4Header.VerifyChecksum(packet[..Ipv4Header.GetHeaderLength(packet)]) ? ChecksumVerdict.Good : ChecksumVerdict.Bad));
            }
            return;
        }
        report.Checksums.Add(("ipv4", ip.VerifyChecksum() ? ChecksumVerdict.Good : ChecksumVerdict.Bad));
        if (!ip.ValidateOptions(out WireError optionError))
        {
            report.Fail("ipv4", Name(optionError));
        }
        IpLayout layout = IpLayout.Of(ip);
        if (layout.IsFragment)
        {
            report.Layers.Add("fragment");
            if (!layout.HasTransportHeader)
            {
                return; // RFC 791 §3.2: later fragments carry no transport header
            }
        }
        Transport(ip.Packet, NetworkProtocol.IPv4, layout.Protocol, layout.TransportOffset, layout.TransportLength, layout.IsFragment, report);
    }

    private static void Ipv6(ReadOnlySpan<byte> packet, bool snapped, PacketReport report)
    {
        report.Layers.Add("ipv6");
        if (!Ipv6Header.TryCreate(packet, out Ipv6Header ip, out WireError error))
        {
            report.Fail("ipv6", snapped && error is WireError.Truncated or WireError.BadTotalLength ? "snapped" : Name(error));
            return;
        }
        // A dissector names every extension header: it walks on past a first fragment's Fragment header (the
        // locator stops there, RFC 8200 §4.5) and stops after a later fragment's.
        var walker = new Ipv6ExtensionWalker(ip);
        bool routing = false;
        bool fragment = false;
        while (walker.MoveNext())
        {
            Ipv6ExtensionHeader header = walker.Current;
            report.Layers.Add(header.Type switch
            {
                IpProtocol.HopByHop => "hop_by_hop",
                IpProtocol.Ipv6Route => "routing",
                IpProtocol.Ipv6Fragment => "fragment",
                IpProtocol.Ipv6DestinationOptions => "destination_options",
                IpProtocol.Ah => "ah",
                _ => $"extension_{(byte)header.Type}",
            });
            routing |= header.Type == IpProtocol.Ipv6Route;
            if (header.Type == IpProtocol.Ipv6Fragment && Ipv6FragmentHeader.TryCreate(header.Bytes, out Ipv6FragmentHeader f, out _))
            {
                fragment |= !f.IsAtomic;
                if (f.FragmentOffset != 0)
                {
                    return; // nothing after a later fragment's header can be read
                }
            }
            if (header.Type is IpProtocol.HopByHop or IpProtocol.Ipv6DestinationOptions && !Ipv6OptionsHeader.TryCreate(header.Bytes, out _, out WireError optionError))
            {
                report.Fail(report.Layers[^1], Name(optionError));
            }
        }
        if (walker.Error != WireError.None)
        {
            report.Fail("ipv6", walker.Error == WireError.Truncated && snapped ? "snapped" : Name(walker.Error));
            return;
        }
        int offset = Ipv6Header.Length + walker.Offset;
        // RFC 8200 §8.1: with a routing header the pseudo-header takes the final destination; not resolved here.
        Transport(ip.Packet, NetworkProtocol.IPv6, walker.NextHeader, offset, ip.Packet.Length - offset, fragment || routing, report);
    }

    private static void Transport(ReadOnlySpan<byte> ipPacket, NetworkProtocol network, IpProtocol protocol, int offset, int length, bool unverifiable,
        PacketReport report)
    {
        ReadOnlySpan<byte> transport = ipPacket.Slice(offset, length);
        switch (protocol)
        {
            case IpProtocol.Tcp:
                report.Layers.Add("tcp");
                if (!TcpHeader.TryCreate(transport, out TcpHeader tcp, out WireError error))
                {
                    report.Fail("tcp", Name(error));
                    return;
                }
                report.Checksums.Add(("tcp", Verdict(ipPacket, network, protocol, offset, length, unverifiable)));
                if (!TcpRepr.TryParse(tcp, out _, out WireError optionError))
                {
                    report.Fail("tcp", Name(optionError));
                }
                break;
            case IpProtocol.Udp:
                report.Layers.Add("udp");
                if (!UdpHeader.TryCreate(transport, out UdpHeader udp, out WireError udpError))
                {
                    // A first fragment holds the header but not the whole datagram its length field describes.
                    if (unverifiable && transport.Length >= UdpHeader.HeaderLength && udpError is WireError.Truncated or WireError.BadTotalLength)
                    {
                        report.Checksums.Add(("udp", ChecksumVerdict.Unverified));
                        return;
                    }
                    report.Fail("udp", Name(udpError));
                    return;
                }
                // A zero checksum is judged even in a fragment: it says no checksum was sent (RFC 768, RFC 8200 §8.1).
                ChecksumVerdict verdict = unverifiable && udp.Checksum == 0
                    ? Verdict(TransportChecksum.UdpZeroChecksum(network))
                    : Verdict(ipPacket, network, protocol, offset, length, unverifiable);
                if (verdict == ChecksumVerdict.ZeroOverIpv6)
                {
                    report.Fail("udp", "zero_checksum_over_ipv6");
                }
                report.Checksums.Add(("udp", verdict));
                break;
            case IpProtocol.Icmp when network == NetworkProtocol.IPv4:
                report.Layers.Add("icmp");
                if (!IcmpV4Header.TryCreate(transport, out _, out WireError icmpError))
                {
                    report.Fail("icmp", Name(icmpError));
                    return;
                }
                report.Checksums.Add(("icmp", Verdict(ipPacket, network, protocol, offset, length, unverifiable)));
                break;
            case IpProtocol.IcmpV6 when network == NetworkProtocol.IPv6:
                report.Layers.Add("icmpv6");
                if (!IcmpV6Header.TryCreate(transport, out _, out WireError icmp6Error))
                {
                    report.Fail("icmpv6", Name(icmp6Error));
                    return;
                }
                report.Checksums.Add(("icmpv6", Verdict(ipPacket, network, protocol, offset, length, unverifiable)));
                break;
            case IpProtocol.Ipv6NoNext:
                break;
            default:
                report.Layers.Add($"protocol_{(byte)protocol}");
                break;
        }
    }

    private static ChecksumVerdict Verdict(ReadOnlySpan<byte> ipPacket, NetworkProtocol network, IpProtocol protocol, int offset, int length, bool unverifiable) =>
        unverifiable ? ChecksumVerdict.Unverified : Verdict(TransportChecksum.Verify(ipPacket, network, protocol, offset, length));

    private static ChecksumVerdict Verdict(TransportChecksumStatus status) => status switch
    {
        TransportChecksumStatus.Good => ChecksumVerdict.Good,
        TransportChecksumStatus.Bad => ChecksumVerdict.Bad,
        TransportChecksumStatus.Absent => ChecksumVerdict.None,
        TransportChecksumStatus.ZeroOverIpv6 => ChecksumVerdict.ZeroOverIpv6,
        _ => ChecksumVerdict.Unverified,
    };

    /// <summary>The report name of a wire error.</summary>
    public static string Name(WireError error) => error switch
    {
        WireError.Truncated => "truncated",
        WireError.BadVersion => "bad_version",
        WireError.BadHeaderLength => "bad_header_length",
        WireError.BadTotalLength => "bad_length",
        WireError.BadOption => "bad_option",
        WireError.BadChecksum => "bad_checksum",
        WireError.BadField => "bad_field",
        WireError.ChainTooLong => "chain_too_long",
        WireError.Unsupported => "unsupported",
        _ => "none",
    };
}
