// Exact-byte unit tests for IPv6 extension headers and the chain walker (RFC 8200 §4, RFC 4302 §2.2).
using System.Diagnostics;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class Ipv6ExtensionTests
{
    // Fixed header (payload length 0x30, next header hop-by-hop), then:
    //   hop-by-hop          next 43 (routing),  len 0, router alert (type 5, length 2, value 0), Pad1, Pad1
    //   routing             next 44 (fragment), len 2, type 4, segments left 0, 20 bytes of data
    //   fragment            next 60 (dest),     offset 0, M set, identification 0x12345678
    //   destination options next 17 (UDP),      len 0, PadN of 4 zeros
    //   UDP header (8 bytes)
    private static readonly byte[] ChainPacket = Convert.FromHexString(
        "60000000" + "0038" + "00" + "40"
        + "20010DB8000000000000000000000001"
        + "20010DB8000000000000000000000002"
        + "2B00" + "05020000" + "0000"
        + "2C02" + "0400" + "0000000000000000000000000000000000000000"
        + "3C00" + "0001" + "12345678"
        + "1100" + "0104" + "00000000"
        + "303900350008ABCD");

    [Fact]
    public void Rfc8200_4_1_HopByHopRoutingFragmentDestination_WalksToUdp()
    {
        byte[] buffer = [.. ChainPacket, 0xEE, 0xEE]; // link padding
        Assert.True(Ipv6Header.TryCreate(buffer, out Ipv6Header ip, out _));
        Assert.Equal(IpProtocol.HopByHop, ip.NextHeader);
        Assert.Equal(56, ip.Payload.Length);

        var walker = new Ipv6ExtensionWalker(ip);
        var seen = new List<(IpProtocol Type, int Offset, int Length, IpProtocol Next)>();
        while (walker.MoveNext())
        {
            seen.Add((walker.Current.Type, walker.Current.Offset, walker.Current.Length, walker.Current.NextHeader));
        }
        Assert.Equal(WireError.None, walker.Error);
        Assert.Equal(
        [
            (IpProtocol.HopByHop, 0, 8, IpProtocol.Ipv6Route),
            (IpProtocol.Ipv6Route, 8, 24, IpProtocol.Ipv6Fragment),
            (IpProtocol.Ipv6Fragment, 32, 8, IpProtocol.Ipv6DestinationOptions),
            (IpProtocol.Ipv6DestinationOptions, 40, 8, IpProtocol.Udp),
        ], seen);
        Assert.Equal(IpProtocol.Udp, walker.NextHeader);
        Assert.Equal(48, walker.Offset);
        Assert.Equal(4, walker.Count);

        Assert.True(Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(IpProtocol.Udp, chain.UpperLayerProtocol);
        Assert.Equal(48, chain.UpperLayerOffset);
        Assert.Equal(4, chain.HeaderCount);
        Assert.True(chain.HasHopByHop);
        Assert.True(chain.HasRoutingHeader);
        Assert.True(chain.HasFragmentHeader);
        Assert.Equal(32, chain.FragmentHeaderOffset);
        Assert.Equal(IpProtocol.Ipv6DestinationOptions, chain.FragmentNextHeader);
        Assert.Equal(0, chain.FragmentOffset);
        Assert.True(chain.MoreFragments);
        Assert.Equal(0x12345678u, chain.FragmentIdentification);
        Assert.True(chain.IsFragment);
        Assert.Equal(0x3039, (ip.Payload[chain.UpperLayerOffset] << 8) | ip.Payload[chain.UpperLayerOffset + 1]);
    }

    [Fact]
    public void Rfc8200_4_3_HopByHopView_WalksRouterAlertAndPadding()
    {
        Assert.True(Ipv6Header.TryCreate(ChainPacket, out Ipv6Header ip, out _));
        Assert.True(Ipv6OptionsHeader.TryCreate(ip.Payload, out Ipv6OptionsHeader hopByHop, out _));
        Assert.Equal(IpProtocol.Ipv6Route, hopByHop.NextHeader);
        Assert.Equal(0, hopByHop.HeaderExtensionLength);
        Assert.Equal(8, hopByHop.Length);
        Assert.True(hopByHop.ValidateOptions(out _));

        Ipv6OptionReader reader = hopByHop.GetOptions();
        Assert.True(reader.MoveNext());
        Assert.Equal(Ipv6Option.RouterAlert, reader.Current.Type);
        Assert.Equal(0, reader.Current.UnrecognizedAction);
        Assert.False(reader.Current.MayChangeEnRoute);
        Assert.Equal(new byte[] { 0, 0 }, reader.Current.Data.ToArray());
        Assert.True(reader.MoveNext());
        Assert.True(reader.Current.IsPadding);
        Assert.Equal(1, reader.Current.Length);
        Assert.Equal(4, reader.CurrentOffset);
        Assert.True(reader.MoveNext());
        Assert.Equal(Ipv6Option.Pad1, reader.Current.Type);
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);
    }

    [Fact]
    public void Rfc8200_4_4_RoutingHeaderView()
    {
        Assert.True(Ipv6Header.TryCreate(ChainPacket, out Ipv6Header ip, out _));
        Assert.True(Ipv6RoutingHeader.TryCreate(ip.Payload[8..], out Ipv6RoutingHeader routing, out _));
        Assert.Equal(IpProtocol.Ipv6Fragment, routing.NextHeader);
        Assert.Equal(2, routing.HeaderExtensionLength);
        Assert.Equal(24, routing.Length);
        Assert.Equal(4, routing.RoutingType);
        Assert.Equal(0, routing.SegmentsLeft);
        Assert.Equal(20, routing.Data.Length);

        var emitted = new byte[Ipv6RoutingHeader.GetLength(20)];
        emitted.AsSpan().Fill(0xA5);
        Ipv6RoutingHeader.Emit(emitted, IpProtocol.Ipv6Fragment, 4, 0, routing.Data);
        Assert.Equal(routing.Header.ToArray(), emitted);
    }

    [Fact]
    public void Rfc8200_4_4_RoutingHeaderEmit_PadsDataToEightOctets()
    {
        var emitted = new byte[Ipv6RoutingHeader.GetLength(5)];
        emitted.AsSpan().Fill(0xA5);
        Ipv6RoutingHeader.Emit(emitted, IpProtocol.Tcp, 3, 2, [1, 2, 3, 4, 5]);
        Assert.Equal(Convert.FromHexString("0601030201020304" + "0500000000000000"), emitted);
    }

    [Fact]
    public void Rfc8200_4_5_FragmentHeaderViewAndRepr()
    {
        byte[] bytes = Convert.FromHexString("3A00" + "05C9" + "DEADBEEF"); // ICMPv6, offset 185 units, res 0, M set
        Assert.True(Ipv6FragmentHeader.TryCreate(bytes, out Ipv6FragmentHeader fragment, out _));
        Assert.Equal(IpProtocol.IcmpV6, fragment.NextHeader);
        Assert.Equal(1480, fragment.FragmentOffset);
        Assert.True(fragment.MoreFragments);
        Assert.Equal(0, fragment.ReservedBits);
        Assert.Equal(0, fragment.Reserved);
        Assert.Equal(0xDEADBEEFu, fragment.Identification);
        Assert.False(fragment.IsAtomic);

        Assert.True(Ipv6FragmentRepr.TryParse(fragment, out Ipv6FragmentRepr repr, out _));
        Assert.Equal(new Ipv6FragmentRepr { NextHeader = IpProtocol.IcmpV6, FragmentOffset = 1480, MoreFragments = true, Identification = 0xDEADBEEF }, repr);
        var emitted = new byte[Ipv6FragmentRepr.BufferLength];
        emitted.AsSpan().Fill(0xA5);
        repr.Emit(emitted);
        Assert.Equal(bytes, emitted);

        Ipv6FragmentHeader.SetFragment(emitted, 2960, moreFragments: false);
        Assert.Equal(Convert.FromHexString("3A00" + "0B90" + "DEADBEEF"), emitted);
    }

    [Fact]
    public void Rfc8200_4_5_ReservedFragmentBits_AreIgnored()
    {
        byte[] bytes = Convert.FromHexString("11FF" + "0006" + "00000001"); // reserved octet and both reserved bits set
        Assert.True(Ipv6FragmentHeader.TryCreate(bytes, out Ipv6FragmentHeader fragment, out _));
        Assert.Equal(0xFF, fragment.Reserved);
        Assert.Equal(3, fragment.ReservedBits);
        Assert.Equal(0, fragment.FragmentOffset);
        Assert.False(fragment.MoreFragments);
        Assert.True(fragment.IsAtomic);
        Assert.False(Ipv6FragmentHeader.TryCreate(bytes.AsSpan(0, 7), out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Rfc6946_AtomicFragment_IsNotAFragment()
    {
        byte[] payload = Convert.FromHexString("1100" + "0000" + "00000009" + "303900350008ABCD");
        Assert.True(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6Fragment, payload, out Ipv6ExtensionChain chain, out _));
        Assert.True(chain.HasFragmentHeader);
        Assert.False(chain.IsFragment);
        Assert.Equal(IpProtocol.Udp, chain.UpperLayerProtocol);
        Assert.Equal(8, chain.UpperLayerOffset);
    }

    [Fact]
    public void Rfc8200_4_5_NonFirstFragment_WalkStopsAfterFragmentHeader()
    {
        // Fragment header naming destination options, offset 1232: what follows is data, not a header.
        byte[] payload = Convert.FromHexString("3C00" + "04D0" + "00000001" + "FFFFFFFFFFFFFFFF");
        Assert.True(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6Fragment, payload, out Ipv6ExtensionChain chain, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(1, chain.HeaderCount);
        Assert.Equal(IpProtocol.Ipv6DestinationOptions, chain.UpperLayerProtocol);
        Assert.Equal(8, chain.UpperLayerOffset);
        Assert.Equal(1232, chain.FragmentOffset);
        Assert.True(chain.IsFragment);
    }

    [Fact]
    public void Rfc8200_4_1_HopByHopNotFirst_BadField()
    {
        byte[] payload = Convert.FromHexString("0000" + "01040000" + "0000" + "1100" + "01040000" + "0000");
        Assert.False(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6DestinationOptions, payload, out _, out WireError error));
        Assert.Equal(WireError.BadField, error);
    }

    [Fact]
    public void Rfc4302_2_2_AuthenticationHeader_LengthInFourOctetUnitsPlusTwo()
    {
        // AH with payload length 4: (4 + 2) * 4 = 24 bytes, then TCP.
        byte[] payload = [.. Convert.FromHexString("0604" + "0000" + "00000100" + "00000001"), .. new byte[12], .. new byte[20]];
        Assert.True(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ah, payload, out Ipv6ExtensionChain chain, out _));
        Assert.Equal(IpProtocol.Tcp, chain.UpperLayerProtocol);
        Assert.Equal(24, chain.UpperLayerOffset);
        Assert.Equal(1, chain.HeaderCount);
    }

    [Theory]
    [InlineData((byte)IpProtocol.Ipv6NoNext)]
    [InlineData((byte)IpProtocol.Esp)]
    [InlineData((byte)135)] // mobility header: not walked, reported for the stack to decide (RFC 8200 §4)
    [InlineData((byte)253)]
    public void Rfc8200_4_UnwalkedNextHeader_EndsWalkAsUpperLayer(byte value)
    {
        byte[] payload = Convert.FromHexString("00" + "00" + "01040000" + "0000");
        payload[0] = value;
        Assert.True(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6DestinationOptions, payload, out Ipv6ExtensionChain chain, out _));
        Assert.Equal((IpProtocol)value, chain.UpperLayerProtocol);
        Assert.Equal(8, chain.UpperLayerOffset);
        Assert.False(chain.HasFragmentHeader);
        Assert.Equal(-1, chain.FragmentHeaderOffset);
    }

    [Fact]
    public void NoExtensionHeaders_UpperLayerAtOffsetZero()
    {
        Assert.True(Ipv6Header.TryCreate(Ipv6HeaderTests.UdpPacket, out Ipv6Header ip, out _));
        Assert.True(Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out _));
        Assert.Equal(IpProtocol.Udp, chain.UpperLayerProtocol);
        Assert.Equal(0, chain.UpperLayerOffset);
        Assert.Equal(0, chain.HeaderCount);
    }

    [Theory]
    [InlineData((byte)IpProtocol.HopByHop, "11", WireError.Truncated)]                 // length octet missing
    [InlineData((byte)IpProtocol.Ipv6DestinationOptions, "1101000000000000", WireError.BadHeaderLength)] // claims 16 of 8
    [InlineData((byte)IpProtocol.Ipv6Route, "110200000000000000000000", WireError.BadHeaderLength)]
    [InlineData((byte)IpProtocol.Ipv6Fragment, "11000000000000", WireError.Truncated)] // 7 of 8 bytes
    [InlineData((byte)IpProtocol.Ah, "06040000000000000000000000000000", WireError.BadHeaderLength)] // claims 24 of 16
    [InlineData((byte)IpProtocol.Ipv6DestinationOptions, "", WireError.Truncated)]
    public void MalformedChain_ReportsError(byte first, string hex, WireError expected)
    {
        Assert.False(Ipv6ExtensionWalker.TryWalk((IpProtocol)first, Convert.FromHexString(hex), out _, out WireError error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void ChainOfHundredsOfHeaders_ChainTooLong_Quickly()
    {
        // 8000 destination options headers, each naming another: the whole 64000-byte payload is a chain.
        const int count = 8000;
        var payload = new byte[count * 8];
        for (int i = 0; i < count; i++)
        {
            payload[i * 8] = (byte)IpProtocol.Ipv6DestinationOptions;
        }
        var stopwatch = Stopwatch.StartNew();

        Assert.False(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6DestinationOptions, payload, out _, out WireError error));
        Assert.Equal(WireError.ChainTooLong, error);

        // With the header-count limit lifted, the byte limit still stops it.
        Assert.False(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6DestinationOptions, payload, out _, out error, maxHeaders: int.MaxValue));
        Assert.Equal(WireError.ChainTooLong, error);

        var walker = new Ipv6ExtensionWalker(IpProtocol.Ipv6DestinationOptions, payload);
        while (walker.MoveNext())
        {
        }
        Assert.Equal(Ipv6ExtensionWalker.DefaultMaxHeaders, walker.Count);
        Assert.Equal(WireError.ChainTooLong, walker.Error);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), stopwatch.Elapsed.ToString());
    }

    [Fact]
    public void ChainAtTheHeaderLimit_IsAccepted()
    {
        const int count = Ipv6ExtensionWalker.DefaultMaxHeaders;
        var payload = new byte[count * 8];
        for (int i = 0; i < count; i++)
        {
            payload[i * 8] = i + 1 < count ? (byte)IpProtocol.Ipv6DestinationOptions : (byte)IpProtocol.Ipv6NoNext;
        }
        Assert.True(Ipv6ExtensionWalker.TryWalk(IpProtocol.Ipv6DestinationOptions, payload, out Ipv6ExtensionChain chain, out _));
        Assert.Equal(count, chain.HeaderCount);
        Assert.Equal(IpProtocol.Ipv6NoNext, chain.UpperLayerProtocol);
    }

    [Theory]
    [InlineData("", "0600" + "0104" + "00000000")]            // no options: one PadN of 4 zeros
    [InlineData("05020000", "0600" + "05020000" + "0100")]    // router alert, then PadN with no data
    [InlineData("C20400010000", "0600" + "C20400010000")]     // exactly 8 bytes: no padding
    [InlineData("0703AABBCC", "0600" + "0703AABBCC" + "00")]  // one byte left: Pad1
    public void Rfc8200_4_2_OptionsHeaderEmit_PadsWithPad1OrPadN(string optionsHex, string expectedHex)
    {
        byte[] options = Convert.FromHexString(optionsHex);
        var emitted = new byte[Ipv6OptionsHeader.GetLength(options.Length)];
        emitted.AsSpan().Fill(0xA5);
        Ipv6OptionsHeader.Emit(emitted, IpProtocol.Tcp, options);
        Assert.Equal(Convert.FromHexString(expectedHex), emitted);
        Assert.True(Ipv6OptionsHeader.TryCreate(emitted, out Ipv6OptionsHeader header, out _));
        Assert.True(header.ValidateOptions(out _));
    }

    [Theory]
    [InlineData("01")]       // PadN with its length octet missing
    [InlineData("0105000000")] // PadN claiming 5 bytes of 3
    [InlineData("000005")]   // Pad1 Pad1 then a type with no length
    public void Rfc8200_4_2_OptionOverrunsHeader_BadOption(string hex)
    {
        Assert.False(Ipv6OptionReader.Validate(Convert.FromHexString(hex), out WireError error));
        Assert.Equal(WireError.BadOption, error);
    }

    [Fact]
    public void Rfc8200_4_2_OptionTypeBits_ActionAndChange()
    {
        byte[] options = Convert.FromHexString("E100" + "8000" + "2000");
        var reader = new Ipv6OptionReader(options);
        Assert.True(reader.MoveNext());
        Assert.Equal(3, reader.Current.UnrecognizedAction);
        Assert.True(reader.Current.MayChangeEnRoute);
        Assert.True(reader.MoveNext());
        Assert.Equal(2, reader.Current.UnrecognizedAction);
        Assert.False(reader.Current.MayChangeEnRoute);
        Assert.True(reader.MoveNext());
        Assert.Equal(0, reader.Current.UnrecognizedAction);
        Assert.True(reader.Current.MayChangeEnRoute);
        Assert.False(reader.MoveNext());
    }

    [Fact]
    public void OptionsHeaderTooLong_BuilderThrows()
    {
        var buffer = new byte[4096];
        Assert.Throws<ArgumentException>(() => Ipv6OptionsHeader.Emit(buffer, IpProtocol.Tcp, new byte[2047]));
        Assert.Throws<ArgumentException>(() => Ipv6RoutingHeader.Emit(buffer, IpProtocol.Tcp, 0, 0, new byte[2045]));
        Ipv6OptionsHeader.Emit(buffer, IpProtocol.Tcp, new byte[2046]);
        Assert.Equal(255, buffer[1]);
    }
}
