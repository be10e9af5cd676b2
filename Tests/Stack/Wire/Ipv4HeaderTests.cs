// Exact-byte unit tests for the IPv4 view, repr, option reader and in-place setters (RFC 791).
using System.Net;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class Ipv4HeaderTests
{
    // The well-known example header: UDP 192.168.0.1 -> 192.168.0.199, total length 115, DF, TTL 64,
    // checksum 0xB861.
    private static readonly byte[] KnownHeader = Convert.FromHexString("45000073000040004011B861C0A80001C0A800C7");

    // IGMP with a router alert option (RFC 2113): IHL 6, DSCP 48 (CS6), TTL 1, checksum 0x4257.
    private static readonly byte[] RouterAlertHeader = Convert.FromHexString("46C00020000040000102" + "4257" + "C0A80102E000001694040000");

    // An ICMP fragment: MF set, offset 185 units (1480 bytes), ID 0xABCD, checksum 0x9A58.
    private static readonly byte[] FragmentHeader = Convert.FromHexString("4500001CABCD20B940019A580A0000010A000002");

    private static byte[] WithPayload(byte[] header, int totalLength, int trailing = 0)
    {
        var packet = new byte[totalLength + trailing];
        header.CopyTo(packet, 0);
        for (int i = header.Length; i < packet.Length; i++)
        {
            packet[i] = (byte)i;
        }
        return packet;
    }

    [Fact]
    public void Rfc791_KnownHeader_ParsesEveryField()
    {
        byte[] packet = WithPayload(KnownHeader, 115, trailing: 5);

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(4, ip.Version);
        Assert.Equal(5, ip.Ihl);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.Dscp);
        Assert.Equal(0, ip.Ecn);
        Assert.Equal(115, ip.TotalLength);
        Assert.Equal(0, ip.Identification);
        Assert.False(ip.ReservedFlag);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(0xB861, ip.Checksum);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(0xC0A80001u, ip.Source);
        Assert.Equal(0xC0A800C7u, ip.Destination);
        Assert.Equal(new byte[] { 192, 168, 0, 1 }, ip.SourceAddress.ToArray());
        Assert.Equal(new byte[] { 192, 168, 0, 199 }, ip.DestinationAddress.ToArray());
        Assert.True(ip.Options.IsEmpty);
        Assert.Equal(KnownHeader, ip.Header.ToArray());
        // The payload stops at the total length: the 5 bytes of link padding are not payload.
        Assert.Equal(95, ip.Payload.Length);
        Assert.Equal(packet.AsSpan(20, 95).ToArray(), ip.Payload.ToArray());
        Assert.Equal(115, ip.Packet.Length);
    }

    [Fact]
    public void Rfc791_KnownHeader_ReprEmitsTheSameBytes()
    {
        var repr = new Ipv4Repr
        {
            Source = IPAddressConversions.ToIpv4Value(IPAddress.Parse("192.168.0.1")),
            Destination = IPAddressConversions.ToIpv4Value(IPAddress.Parse("192.168.0.199")),
            Protocol = IpProtocol.Udp,
            TimeToLive = 64,
            DontFragment = true,
            PayloadLength = 95,
        };
        var buffer = new byte[repr.BufferLength];
        buffer.AsSpan().Fill(0xA5);

        repr.Emit(buffer);

        Assert.Equal(KnownHeader, buffer);
        Assert.True(Ipv4Header.TryCreate(WithPayload(buffer, 115), out Ipv4Header ip, out _));
        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr parsed, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.GetHashCode(), parsed.GetHashCode());
        Assert.Contains("Source = 3232235521", parsed.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Rfc1071_RecomputeChecksum_RestoresKnownChecksum()
    {
        byte[] header = (byte[])KnownHeader.Clone();
        header[10] = 0x12;
        header[11] = 0x34;
        Assert.False(Ipv4Header.VerifyChecksum(header));

        Ipv4Header.RecomputeChecksum(header);

        Assert.Equal(KnownHeader, header);
        Assert.True(Ipv4Header.VerifyChecksum(header));
    }

    [Fact]
    public void Rfc791_CorruptedHeaderByte_ChecksumFails()
    {
        byte[] packet = WithPayload(KnownHeader, 115);
        packet[8] = 63; // TTL decremented without updating the checksum

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.False(ip.VerifyChecksum());
    }

    [Fact]
    public void Rfc2113_RouterAlertOption_ParsesWalksAndEmits()
    {
        byte[] packet = WithPayload(RouterAlertHeader, 32);

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.Equal(6, ip.Ihl);
        Assert.Equal(24, ip.HeaderLength);
        Assert.Equal(48, ip.Dscp);
        Assert.Equal(1, ip.TimeToLive);
        Assert.Equal((IpProtocol)2, ip.Protocol);
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(new byte[] { 0x94, 0x04, 0x00, 0x00 }, ip.Options.ToArray());
        Assert.Equal(8, ip.Payload.Length);
        Assert.True(ip.ValidateOptions(out WireError error));
        Assert.Equal(WireError.None, error);

        Ipv4OptionReader reader = ip.GetOptions();
        Assert.True(reader.MoveNext());
        Assert.Equal(Ipv4Option.RouterAlert, reader.Current.Type);
        Assert.True(reader.Current.Copied);
        Assert.Equal(0, reader.Current.Class);
        Assert.Equal(20, reader.Current.Number);
        Assert.Equal(4, reader.Current.Length);
        Assert.Equal(new byte[] { 0, 0 }, reader.Current.Data.ToArray());
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);

        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _));
        Assert.Equal(ip.Options.ToArray(), repr.Options.ToArray());
        var emitted = new byte[repr.BufferLength];
        emitted.AsSpan().Fill(0xA5);
        repr.Emit(emitted);
        Assert.Equal(RouterAlertHeader, emitted);
    }

    [Fact]
    public void Rfc791_Fragment_MoreFragmentsAndOffsetInBytes()
    {
        byte[] packet = WithPayload(FragmentHeader, 28);

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.True(ip.VerifyChecksum());
        Assert.Equal(0xABCD, ip.Identification);
        Assert.False(ip.DontFragment);
        Assert.True(ip.MoreFragments);
        Assert.Equal(1480, ip.FragmentOffset);
        Assert.True(ip.IsFragment);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);

        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _));
        Assert.True(repr.IsFragment);
        var emitted = new byte[repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(FragmentHeader, emitted);
    }

    [Fact]
    public void Rfc791_LastFragment_OffsetOnlyIsAFragment()
    {
        byte[] packet = WithPayload(FragmentHeader, 28);
        Ipv4Header.SetFragment(packet, dontFragment: false, moreFragments: false, fragmentOffset: 2960);
        Ipv4Header.RecomputeChecksum(packet);

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.False(ip.MoreFragments);
        Assert.Equal(2960, ip.FragmentOffset);
        Assert.True(ip.IsFragment);
        Assert.True(ip.VerifyChecksum());
    }

    [Fact]
    public void Rfc3514_ReservedFlag_IsExposedNotRejected()
    {
        byte[] packet = WithPayload(KnownHeader, 115);
        packet[6] |= 0x80;

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.True(ip.ReservedFlag);
        Assert.True(ip.DontFragment);

        // SetFragment keeps the reserved bit; the repr does not carry it and emits zero.
        Ipv4Header.SetFragment(packet, dontFragment: false, moreFragments: true, fragmentOffset: 8);
        Assert.Equal(0xA0, packet[6]);
        Assert.Equal(0x01, packet[7]);
        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _));
        var emitted = new byte[repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(0x20, emitted[6]); // MF only: the reserved bit is gone
    }

    [Fact]
    public void TryCreate_ShorterThanFixedHeader_Truncated()
    {
        Assert.False(Ipv4Header.TryCreate(KnownHeader.AsSpan(0, 19), out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
        Assert.False(Ipv4Header.TryCreate([], out _, out error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void TryCreate_VersionSix_BadVersion()
    {
        byte[] packet = WithPayload(KnownHeader, 115);
        packet[0] = 0x65;
        Assert.False(Ipv4Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.BadVersion, error);
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x44)]
    public void Rfc791_IhlBelowFive_BadHeaderLength(byte versionIhl)
    {
        byte[] packet = WithPayload(KnownHeader, 115);
        packet[0] = versionIhl;
        Assert.False(Ipv4Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Rfc791_IhlPastBuffer_BadHeaderLength()
    {
        byte[] packet = (byte[])KnownHeader.Clone();
        packet[0] = 0x46;
        Assert.False(Ipv4Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Rfc791_TotalLengthBelowHeaderLength_BadTotalLength()
    {
        byte[] packet = WithPayload(RouterAlertHeader, 32);
        packet[3] = 20; // shorter than the 24-byte header
        Assert.False(Ipv4Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.BadTotalLength, error);
    }

    [Fact]
    public void Rfc791_TotalLengthPastBuffer_Truncated()
    {
        byte[] packet = WithPayload(KnownHeader, 114);
        Assert.False(Ipv4Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Rfc791_HeaderOnlyPacket_HasEmptyPayload()
    {
        byte[] header = (byte[])KnownHeader.Clone();
        Ipv4Header.SetTotalLength(header, 20);
        Assert.True(Ipv4Header.TryCreate(header, out Ipv4Header ip, out _));
        Assert.True(ip.Payload.IsEmpty);
    }

    [Theory]
    [InlineData("07")]            // record route with its length octet missing
    [InlineData("0701")]          // length 1: below the minimum of 2
    [InlineData("0700")]          // length 0
    [InlineData("01010709040000")] // NOP NOP then a 9-byte option in a 5-byte remainder
    [InlineData("440C0500")]      // timestamp claiming 12 bytes in a 4-byte area
    public void Rfc791_MalformedOption_BadOption(string hex)
    {
        byte[] options = Convert.FromHexString(hex);
        Assert.False(Ipv4OptionReader.Validate(options, out WireError error));
        Assert.Equal(WireError.BadOption, error);
    }

    [Fact]
    public void Rfc791_MalformedOptionInHeader_TryCreateAcceptsValidateOptionsRejects()
    {
        byte[] packet = WithPayload(RouterAlertHeader, 32);
        packet[21] = 0x08; // router alert now claims 8 bytes in a 4-byte option area
        Ipv4Header.RecomputeChecksum(packet);

        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.False(ip.ValidateOptions(out WireError error));
        Assert.Equal(WireError.BadOption, error);
        Ipv4OptionReader reader = ip.GetOptions();
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.BadOption, reader.Error);
    }

    [Fact]
    public void Rfc791_EndOfOptionList_StopsTheWalk()
    {
        // NOP, EOL, then bytes that would be malformed if read: they are padding after EOL.
        byte[] options = Convert.FromHexString("0100FF01");
        var reader = new Ipv4OptionReader(options);
        Assert.True(reader.MoveNext());
        Assert.Equal(Ipv4Option.NoOperation, reader.Current.Type);
        Assert.Equal(1, reader.Current.Length);
        Assert.True(reader.MoveNext());
        Assert.Equal(Ipv4Option.EndOfList, reader.Current.Type);
        Assert.Equal(1, reader.CurrentOffset);
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);
        Assert.True(Ipv4OptionReader.Validate(options, out _));
    }

    [Fact]
    public void SetTotalLengthIdentificationFragment_ThenRecompute_MatchesEmit()
    {
        var repr = new Ipv4Repr
        {
            Source = 0x0A000001,
            Destination = 0x0A000002,
            Protocol = IpProtocol.Tcp,
            TimeToLive = 64,
            Identification = 7,
            DontFragment = true,
            PayloadLength = 1000,
        };
        var header = new byte[repr.BufferLength];
        repr.Emit(header);

        Ipv4Header.SetTotalLength(header, 520);
        Ipv4Header.SetIdentification(header, 8);
        Ipv4Header.SetFragment(header, dontFragment: false, moreFragments: true, fragmentOffset: 496);
        Ipv4Header.SetTimeToLive(header, 63);
        Ipv4Header.RecomputeChecksum(header);

        var expected = new byte[repr.BufferLength];
        (repr with { PayloadLength = 500, Identification = 8, DontFragment = false, MoreFragments = true, FragmentOffset = 496, TimeToLive = 63 })
            .Emit(expected);
        Assert.Equal(expected, header);
    }

    [Fact]
    public void Ipv4Repr_SetOptions_RejectsUnpaddedOrOversized()
    {
        var repr = default(Ipv4Repr);
        Assert.Throws<ArgumentException>(() => repr.SetOptions(new byte[3]));
        Assert.Throws<ArgumentException>(() => repr.SetOptions(new byte[44]));
        repr.SetOptions(new byte[40]);
        Assert.Equal(60, repr.BufferLength);
        repr.SetOptions([]);
        Assert.Equal(20, repr.BufferLength);
    }

    [Fact]
    public void IPAddressConversions_Ipv4_RoundTrip()
    {
        IPAddress address = IPAddress.Parse("10.1.2.3");
        Assert.Equal(0x0A010203u, IPAddressConversions.ToIpv4Value(address));
        Assert.Equal(address, IPAddressConversions.FromIpv4Value(0x0A010203));
        Assert.Equal(address, IPAddressConversions.FromBytes([10, 1, 2, 3]));
        Span<byte> bytes = stackalloc byte[16];
        Assert.Equal(4, IPAddressConversions.WriteBytes(address, bytes));
        Assert.Equal(new byte[] { 10, 1, 2, 3 }, bytes[..4].ToArray());
        Assert.Throws<ArgumentException>(() => IPAddressConversions.ToIpv4Value(IPAddress.IPv6Loopback));
        Assert.Throws<ArgumentException>(() => IPAddressConversions.FromBytes([1, 2, 3]));
    }
}
