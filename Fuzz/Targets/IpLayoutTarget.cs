// The transport-header locator every inbound site runs (IpLayout) and the one transport-checksum check
// (TransportChecksum), over the input as one flat IP packet and as a head plus payload pieces.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: a refused packet names its error; an accepted layout stays inside the packet (header ≤ transport
/// offset ≤ IP length ≤ input) and agrees with the views: IPv4 with <see cref="Ipv4Header"/> (IHL, total length,
/// protocol, fragment fields), IPv6 with <see cref="Ipv6ExtensionWalker"/> walked up to the first Fragment header
/// (offsets, protocol, the field naming it, routing, fragment fields); the layout over a head that holds every
/// header (cut at an input-derived point) with the packet's length is the same, and a head that cuts the headers
/// is refused, never misread; the transport checksum verdict is the same flat and in pieces, and agrees with the
/// scalar reference sum. Every buffer goes back to the pool.
/// </summary>
public sealed class IpLayoutTarget : IFuzzTarget
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-ip-layout");

    /// <inheritdoc/>
    public string Name => "IpLayout";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (!IpLayout.TryLocate(input, input.Length, out IpLayout layout, out WireError error))
        {
            Check.True(error != WireError.None, "a refused packet names its error");
            Check.Equal(NetworkProtocol.None, layout.Version, "a refused layout is empty");
            return;
        }
        Check.True(layout.HeaderLength <= layout.TransportOffset && layout.TransportOffset <= layout.Length && layout.Length <= input.Length,
            "header ≤ transport offset ≤ IP length ≤ input");
        Check.True(layout.ProtocolFieldOffset < layout.TransportOffset, "the field naming the protocol precedes the transport");
        Check.Equal((byte)layout.Protocol, input[layout.ProtocolFieldOffset], "the protocol is the byte at its field");
        if (layout.IsV6)
        {
            CheckIpv6(input, layout);
        }
        else
        {
            CheckIpv4(input, layout);
        }

        var random = new InputRandom(input, salt: 7);
        int headLength = layout.TransportOffset + random.Next(input.Length - layout.TransportOffset + 1);
        Check.True(IpLayout.TryLocate(input[..headLength], input.Length, out IpLayout split, out error), $"a head holding the headers locates ({error})");
        CheckSame(layout, split);
        if (layout.TransportOffset > 0)
        {
            int cut = random.Next(layout.TransportOffset);
            bool located = IpLayout.TryLocate(input[..cut], input.Length, out IpLayout cutLayout, out _);
            Check.True(!located || cutLayout.TransportOffset <= cut, "a head that cuts the headers is refused or reads only what it holds");
        }

        CheckChecksum(input, layout, ref random);
        Check.NoLeaks(_pool);
    }

    private static void CheckIpv4(ReadOnlySpan<byte> input, in IpLayout layout)
    {
        Check.True(Ipv4Header.TryCreate(input, out Ipv4Header ip, out _), "the IPv4 view accepts what the locator does");
        Check.Equal(ip.HeaderLength, layout.HeaderLength, "IHL");
        Check.Equal(ip.HeaderLength, layout.TransportOffset, "IPv4 transport after the header");
        Check.Equal(ip.TotalLength, layout.Length, "total length");
        Check.Equal(ip.Protocol, layout.Protocol, "protocol");
        Check.Equal(ip.IsFragment, layout.IsFragment, "fragment");
        Check.Equal(ip.FragmentOffset, layout.FragmentOffset, "fragment offset");
        Check.Equal(ip.MoreFragments, layout.MoreFragments, "MF");
        Check.Equal((uint)ip.Identification, layout.Identification, "identification");
        Check.True(!layout.HasExtensionHeaders && !layout.HasRoutingHeader && layout.FragmentHeaderOffset == -1, "no IPv6 parts");
    }

    private static void CheckIpv6(ReadOnlySpan<byte> input, in IpLayout layout)
    {
        Check.True(Ipv6Header.TryCreate(input, out Ipv6Header ip, out _), "the IPv6 view accepts what the locator does");
        Check.Equal(Ipv6Header.Length + ip.PayloadLength, layout.Length, "IP length");
        var walker = new Ipv6ExtensionWalker(ip);
        int protocolField = Ipv6Header.NextHeaderOffset;
        int fragmentAt = -1;
        bool routing = false;
        while (walker.MoveNext())
        {
            routing |= walker.Current.Type == IpProtocol.Ipv6Route;
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                fragmentAt = Ipv6Header.Length + walker.Current.Offset;
                Ipv6FragmentHeader.TryCreate(walker.Current.Bytes, out Ipv6FragmentHeader fragment, out _);
                Check.Equal(fragment.FragmentOffset, layout.FragmentOffset, "fragment offset");
                Check.Equal(fragment.MoreFragments, layout.MoreFragments, "M");
                Check.Equal(fragment.Identification, layout.Identification, "identification");
                Check.Equal(fragment.NextHeader, layout.Protocol, "a fragment's protocol is its header's next header");
                Check.Equal(protocolField, layout.FragmentHeaderNamedAt, "the field naming the fragment header");
                Check.Equal(fragmentAt + Ipv6FragmentHeader.Length, layout.TransportOffset, "a fragment's transport follows its header");
                break;
            }
            protocolField = Ipv6Header.Length + walker.Current.Offset;
        }
        Check.True(fragmentAt >= 0 || walker.Error == WireError.None, "the walk the locator accepted ends cleanly");
        Check.Equal(fragmentAt, layout.FragmentHeaderOffset, "fragment header offset");
        Check.Equal(fragmentAt >= 0, layout.IsFragment, "a Fragment header makes a fragment");
        Check.Equal(routing, layout.HasRoutingHeader, "routing header");
        if (fragmentAt < 0)
        {
            Check.Equal(walker.NextHeader, layout.Protocol, "upper layer");
            Check.Equal(Ipv6Header.Length + walker.Offset, layout.TransportOffset, "transport offset");
            Check.Equal(protocolField, layout.ProtocolFieldOffset, "the field naming the upper layer");
        }
        Check.Equal(layout.TransportOffset != Ipv6Header.Length, layout.HasExtensionHeaders, "extension headers");
    }

    private static void CheckSame(in IpLayout a, in IpLayout b)
    {
        Check.Equal(a.Version, b.Version, "version");
        Check.Equal(a.HeaderLength, b.HeaderLength, "header length");
        Check.Equal(a.Length, b.Length, "IP length");
        Check.Equal(a.Protocol, b.Protocol, "protocol");
        Check.Equal(a.TransportOffset, b.TransportOffset, "transport offset");
        Check.Equal(a.ProtocolFieldOffset, b.ProtocolFieldOffset, "protocol field");
        Check.Equal(a.IsFragment, b.IsFragment, "fragment");
        Check.Equal(a.FragmentOffset, b.FragmentOffset, "fragment offset");
        Check.Equal(a.MoreFragments, b.MoreFragments, "more fragments");
        Check.Equal(a.HasRoutingHeader, b.HasRoutingHeader, "routing header");
        Check.Equal(a.FragmentHeaderOffset, b.FragmentHeaderOffset, "fragment header offset");
        Check.Equal(a.Identification, b.Identification, "identification");
    }

    private void CheckChecksum(ReadOnlySpan<byte> input, in IpLayout layout, ref InputRandom random)
    {
        TransportChecksumStatus flat = TransportChecksum.Verify(input, layout);
        int headLength = Math.Min(input.Length, HeaderSpan.Of(input) + random.Next(4));
        headLength = Math.Max(headLength, Math.Min(input.Length, layout.TransportOffset + UdpHeader.HeaderLength));
        int[] cuts = SegmentedPacket.ChooseCuts(ref random, headLength, input.Length, maxCuts: 2);
        using (PacketBuffer segmented = SegmentedPacket.Build(_pool, input, headLength, cuts, random.Next(4)))
        {
            Check.Equal(flat, TransportChecksum.Verify(segmented, layout), "checksum verdict flat = in pieces");
        }
        if (flat is not (TransportChecksumStatus.Good or TransportChecksumStatus.Bad))
        {
            return;
        }
        // The scalar reference: the message (UDP: its length field's worth) and the pseudo-header sum to all ones.
        ReadOnlySpan<byte> message = input.Slice(layout.TransportOffset, layout.TransportLength);
        if (layout.Protocol == IpProtocol.Udp)
        {
            Check.True(UdpHeader.TryCreate(message, out UdpHeader udp, out _), "a verified UDP datagram has a header");
            message = udp.Datagram;
        }
        uint pseudo = layout.Protocol == IpProtocol.Icmp ? 0 : TransportChecksum.PseudoHeaderSum(input, layout.Protocol, message.Length);
        bool good = InternetChecksum.Fold(InternetChecksum.SumScalar(message, pseudo)) == 0xFFFF;
        Check.Equal(good, flat == TransportChecksumStatus.Good, "verdict = scalar reference");
    }
}
