using NetStack.Buffers;
using NetStack.Link.Channels;
using NetStack.Link.Tun;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>ARCHITECTURE.md §4: a virtio header read from the kernel is judged against the packet it came with.</summary>
public class VirtioInboundTests
{
    private static readonly VirtioNetHeader Tso4 = new()
    {
        Flags = VirtioNetFlags.NeedsChecksum,
        GsoTypeByte = (byte)VirtioGsoType.TcpV4,
        HeaderLength = 52,
        GsoSize = 1448,
        ChecksumStart = 20,
        ChecksumOffset = 16,
    };

    private static TunDropReason Prepare(byte[] packet, VirtioNetHeader header, bool uso = true)
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer buffer = pool.Pool.RentCopy(packet);
        return VirtioInbound.Prepare(buffer, header, uso);
    }

    private static byte[] Super4 => GsoPackets.Super(false, Packets.Payload(5000));

    [Fact]
    public void Valid_TsoV4_Accepted() => Assert.Equal(TunDropReason.None, Prepare(Super4, Tso4));

    [Fact]
    public void UnknownFlagBits_Dropped() => Assert.Equal(TunDropReason.BadVirtioFlags, Prepare(Super4, Tso4 with { Flags = (VirtioNetFlags)0x81 }));

    [Fact]
    public void Ufo_NotNegotiated_Dropped() => Assert.Equal(TunDropReason.UnsupportedGsoType, Prepare(Super4, Tso4 with { GsoTypeByte = 3 }));

    [Fact]
    public void UnknownGsoType_Dropped() => Assert.Equal(TunDropReason.UnsupportedGsoType, Prepare(Super4, Tso4 with { GsoTypeByte = 9 }));

    [Fact]
    public void UsoWithoutNegotiation_Dropped() =>
        Assert.Equal(TunDropReason.UnsupportedGsoType, Prepare(Super4, Tso4 with { GsoTypeByte = 5, ChecksumOffset = 6 }, uso: false));

    [Fact]
    public void TcpV6OnIpv4_Dropped() => Assert.Equal(TunDropReason.GsoTypeMismatch, Prepare(Super4, Tso4 with { GsoTypeByte = 4 }));

    [Fact]
    public void EcnBit_Tolerated() => Assert.Equal(TunDropReason.None, Prepare(Super4, Tso4 with { GsoTypeByte = 0x81 }));

    [Fact]
    public void GsoWithoutNeedsChecksum_Dropped() => Assert.Equal(TunDropReason.GsoWithoutChecksum, Prepare(Super4, Tso4 with { Flags = VirtioNetFlags.None }));

    [Fact]
    public void ChecksumStartInsideIpHeader_Dropped() => Assert.Equal(TunDropReason.BadChecksumLocation, Prepare(Super4, Tso4 with { ChecksumStart = 12 }));

    [Fact]
    public void ChecksumFieldPastThePacket_Dropped() => Assert.Equal(TunDropReason.BadChecksumLocation, Prepare(Super4, Tso4 with { ChecksumStart = 60000 }));

    [Fact]
    public void TcpGsoWithUdpChecksumOffset_Dropped() => Assert.Equal(TunDropReason.BadGsoHeaders, Prepare(Super4, Tso4 with { ChecksumOffset = 6 }));

    [Fact]
    public void ZeroGsoSize_Dropped() => Assert.Equal(TunDropReason.BadGsoHeaders, Prepare(Super4, Tso4 with { GsoSize = 0 }));

    [Fact]
    public void TcpDataOffsetBelowFive_Dropped()
    {
        byte[] packet = Super4;
        packet[20 + 12] = 0x40; // data offset 4 words
        Assert.Equal(TunDropReason.BadGsoHeaders, Prepare(packet, Tso4));
    }

    [Fact]
    public void IpLengthPastTheRead_Dropped()
    {
        byte[] packet = Super4[..3000]; // the IPv4 total length says 5052
        Assert.Equal(TunDropReason.BadIpLength, Prepare(packet, Tso4));
    }

    [Fact]
    public void PlainPacketWithBadIpHeader_LeftToRxValidation() =>
        Assert.Equal(TunDropReason.None, Prepare([0x45, 0, 0], default));

    [Fact]
    public void HdrLenIgnored_SetFromCsumStartAndDataOffset()
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer buffer = pool.Pool.RentCopy(Super4);
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(buffer, Tso4 with { HeaderLength = 65535 }));
        Assert.Equal(52, buffer.Gso.HeaderLength);
        Assert.Equal(4, buffer.SegmentsRepresented); // 5000 / 1448 rounded up
    }

    [Fact]
    public void PartialChecksumAtTheTcpHeader_Trusted_LeftPartial()
    {
        using var pool = new LeakCheckedPool();
        byte[] super = Super4;
        using PacketBuffer buffer = pool.Pool.RentCopy(super);
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(buffer, Tso4));
        Assert.True(buffer.RxChecksumValidated);
        Assert.True(buffer.Gso.NeedsChecksum);
        Assert.Equal(super, buffer.ToArray());
    }

    [Fact]
    public void Ipv4Fragment_NotTrusted_Completed()
    {
        using var pool = new LeakCheckedPool();
        byte[] fragment = Super4;
        fragment[6] |= 0x20; // MF: the checksum would cover the whole datagram
        NetStack.Wire.Ipv4Header.RecomputeChecksum(fragment);
        using PacketBuffer buffer = pool.Pool.RentCopy(fragment);
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(buffer, Tso4));
        Assert.False(buffer.RxChecksumValidated);
        Assert.False(buffer.Gso.NeedsChecksum);
    }

    [Fact]
    public void Ipv6ExtensionHeaderBeforeTcp_NotTrusted_Completed()
    {
        // A hop-by-hop header (8 bytes of padding) between the IPv6 header and TCP: csum_start 48 is not the fixed
        // header's end, so the checksum is completed there and RX validation verifies it.
        byte[] plain = GsoPackets.Super(true, Packets.Payload(2000));
        byte[] packet = new byte[plain.Length + 8];
        plain.AsSpan(0, 40).CopyTo(packet);
        packet[6] = 0; // next header: hop-by-hop
        packet[40] = 6; // then TCP
        packet[41] = 0; // length 8 bytes
        packet[42] = 1; // PadN
        packet[43] = 4;
        plain.AsSpan(40).CopyTo(packet.AsSpan(48));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(packet.Length - 40));
        using var pool = new LeakCheckedPool();
        using PacketBuffer buffer = pool.Pool.RentCopy(packet);
        var header = new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 48, ChecksumOffset = 16 };
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(buffer, header));
        Assert.False(buffer.RxChecksumValidated);
        Assert.Equal(RxVerdict.Validated, RxChecksumValidator.Validate(buffer, out _));
    }

    [Fact]
    public void UdpChecksumOffsetOnATcpPacket_NotTrusted()
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer buffer = pool.Pool.RentCopy(Super4);
        var header = new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 20, ChecksumOffset = 6 };
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(buffer, header));
        Assert.False(buffer.RxChecksumValidated);
        Assert.NotEqual(RxVerdict.Validated, RxChecksumValidator.Validate(buffer, out _));
    }
}
