using NetStack.Buffers;
using NetStack.Link.Tun;
using NetStack.Tests.Support;

namespace NetStack.Tests.Tun;

/// <summary>DESIGN §4: a virtio header read from the kernel is judged against the packet it came with.</summary>
public class VirtioInboundTests
{
    private static readonly VirtioNetHeader Tso4 = new()
    {
        Flags = VirtioNetFlags.NeedsChecksum, GsoTypeByte = (byte)VirtioGsoType.TcpV4, HeaderLength = 52, GsoSize = 1448, ChecksumStart = 20, ChecksumOffset = 16,
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
}
