using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Channels;

public class RxValidationTests
{
    private static (RxVerdict, RxDropReason, bool validated, NetworkProtocol) Check(PacketBufferPool pool, byte[] bytes)
    {
        using var p = pool.RentCopy(bytes);
        var verdict = RxChecksumValidator.Validate(p, out var reason);
        return (verdict, reason, p.RxChecksumValidated, p.NetworkProtocol);
    }

    private static (RxVerdict, RxDropReason) Two((RxVerdict V, RxDropReason R, bool, NetworkProtocol) r) => (r.V, r.R);

    [Fact]
    public void ValidIpv4Tcp_IsValidatedAndMarked()
    {
        using var pool = new LeakCheckedPool();
        var r = Check(pool, Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(1448)));
        Assert.Equal((RxVerdict.Validated, RxDropReason.None, true, NetworkProtocol.IPv4), r);
    }

    [Fact]
    public void ValidIpv6Tcp_WithExtensionChain_IsValidated()
    {
        using var pool = new LeakCheckedPool();
        byte[] plain = Packets.Ipv6Tcp(Packets.Tcp(), Packets.Payload(100));
        // Hop-by-hop (8 bytes of PadN) then destination options (8 bytes), then TCP. RFC 8200 §4.1 order.
        byte[] ext = [(byte)IpProtocol.Ipv6DestinationOptions, 0, 1, 4, 0, 0, 0, 0, (byte)IpProtocol.Tcp, 0, 1, 4, 0, 0, 0, 0];
        var r = Check(pool, Packets.WithIpv6Extensions(plain, IpProtocol.HopByHop, ext));
        Assert.Equal((RxVerdict.Validated, RxDropReason.None, true, NetworkProtocol.IPv6), r);
    }

    [Fact]
    public void ValidUdp_BothVersions_AndZeroChecksumOnlyOverIpv4()
    {
        using var pool = new LeakCheckedPool();
        Assert.Equal(RxVerdict.Validated, Check(pool, Packets.Ipv4Udp(Packets.Payload(33))).Item1);
        Assert.Equal(RxVerdict.Validated, Check(pool, Packets.Ipv6Udp(Packets.Payload(33))).Item1);
        // RFC 768: zero means "no checksum" over IPv4; RFC 8200 §8.1 forbids it over IPv6.
        Assert.Equal(RxVerdict.PassedToStack, Check(pool, Packets.Ipv4Udp(Packets.Payload(33), checksum: false)).Item1);
        Assert.Equal((RxVerdict.Drop, RxDropReason.UdpZeroChecksumOverIpv6), Two(Check(pool, Packets.Ipv6Udp(Packets.Payload(33), checksum: false))));
    }

    [Theory]
    [InlineData(30, RxDropReason.TcpBadChecksum)]      // payload byte
    [InlineData(24, RxDropReason.TcpBadChecksum)]      // TCP sequence number
    [InlineData(10, RxDropReason.Ipv4BadHeaderChecksum)] // header checksum itself
    [InlineData(12, RxDropReason.Ipv4BadHeaderChecksum)] // source address
    public void CorruptedIpv4Tcp_IsDroppedWithReason(int offset, RxDropReason expected)
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(64));
        bytes[offset] ^= 0x10;
        Assert.Equal((RxVerdict.Drop, expected), Two(Check(pool, bytes)));
    }

    [Fact]
    public void CorruptedUdp_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        byte[] v4 = Packets.Ipv4Udp(Packets.Payload(40));
        v4[^1] ^= 1;
        Assert.Equal(RxDropReason.UdpBadChecksum, Check(pool, v4).Item2);
        byte[] v6 = Packets.Ipv6Udp(Packets.Payload(40));
        v6[^1] ^= 1;
        Assert.Equal(RxDropReason.UdpBadChecksum, Check(pool, v6).Item2);
    }

    [Fact]
    public void LinkPadding_IsTrimmedToIpLength()
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = [.. Packets.Ipv4Tcp(Packets.Tcp(), []), 0, 0, 0, 0, 0, 0];
        using var p = pool.Pool.RentCopy(bytes);
        Assert.Equal(RxVerdict.Validated, RxChecksumValidator.Validate(p, out _));
        Assert.Equal(40, p.Length);
    }

    [Fact]
    public void Fragments_ArePassedToReassemblyUnchecked()
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(64));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), 0x2000); // MF
        Ipv4Header.RecomputeChecksum(bytes);
        bytes[^1] ^= 0xFF; // a fragment's transport checksum is not ours to check
        var r = Check(pool, bytes);
        Assert.Equal((RxVerdict.PassedToStack, false), (r.Item1, r.validated));

        byte[] v6 = Packets.Ipv6Tcp(Packets.Tcp(), Packets.Payload(64));
        byte[] frag = [(byte)IpProtocol.Tcp, 0, 0, 1, 0, 0, 0, 7]; // M=1, offset 0, id 7
        Assert.Equal(RxVerdict.PassedToStack, Check(pool, Packets.WithIpv6Extensions(v6, IpProtocol.Ipv6Fragment, frag)).Item1);
    }

    [Fact]
    public void Icmp_IsLeftToTheStack()
    {
        using var pool = new LeakCheckedPool();
        var ip = new Ipv4Repr { Source = Packets.V4A, Destination = Packets.V4B, Protocol = IpProtocol.Icmp, TimeToLive = 64, PayloadLength = 8 };
        var bytes = new byte[28];
        ip.Emit(bytes);
        Assert.Equal(RxVerdict.PassedToStack, Check(pool, bytes).Item1);
    }

    [Fact]
    public void AlreadyValidatedFlag_IsHonoured_ChecksumsNotRecomputed()
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(64));
        bytes[^1] ^= 1; // bad TCP checksum, but the device vouched for it (virtio DATA_VALID)
        using var p = pool.Pool.RentCopy(bytes);
        p.RxChecksumValidated = true;
        Assert.Equal(RxVerdict.Validated, RxChecksumValidator.Validate(p, out _));
    }

    [Theory]
    [InlineData(new byte[0], RxDropReason.Empty)]
    [InlineData(new byte[] { 0x55, 0, 0, 0 }, RxDropReason.UnknownIpVersion)]
    [InlineData(new byte[] { 0x45, 0, 0, 20 }, RxDropReason.Ipv4BadHeader)]
    [InlineData(new byte[] { 0x60, 0, 0, 0 }, RxDropReason.Ipv6BadHeader)]
    public void Malformed_IsDroppedWithReason(byte[] bytes, RxDropReason expected)
    {
        using var pool = new LeakCheckedPool();
        Assert.Equal(expected, Check(pool, bytes).Item2);
    }

    [Fact]
    public void TcpDataOffsetPastSegment_IsBadHeader()
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(), []);
        bytes[20 + 12] = 0xF0; // data offset 60 > 20-byte segment
        Assert.Equal(RxDropReason.TcpBadHeader, Check(pool, bytes).Item2);
    }

    [Fact]
    public void PayloadInSegments_ChecksumCoversEveryPiece()
    {
        using var pool = new LeakCheckedPool();
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(3001));
        using var head = pool.Pool.RentCopy(bytes.AsSpan(0, 57)); // headers + 17 bytes: odd split
        using var rest = pool.Pool.RentCopy(bytes.AsSpan(57));
        head.AppendReference(rest, 0, 1001);
        head.AppendReference(rest, 1001, rest.Length - 1001);
        Assert.Equal(RxVerdict.Validated, RxChecksumValidator.Validate(head, out _));
        rest.Head[500] ^= 4; // shared memory: the coalesced view sees the corruption
        head.RxChecksumValidated = false;
        Assert.Equal(RxVerdict.Drop, RxChecksumValidator.Validate(head, out var reason));
        Assert.Equal(RxDropReason.TcpBadChecksum, reason);
    }

    [Property(MaxTest = 300)]
    public Property AnyBytes_NeverThrow_AndNeverLeak(byte[] junk, bool v6)
    {
        using var pool = new LeakCheckedPool();
        if (junk.Length > 0)
        {
            junk[0] = (byte)((junk[0] & 0x0F) | (v6 ? 0x60 : 0x40));
        }
        using var p = pool.Pool.RentCopy(junk);
        var verdict = RxChecksumValidator.Validate(p, out var reason);
        return (verdict == RxVerdict.Drop == (reason != RxDropReason.None)).Label("drop iff reason");
    }

    [Property(MaxTest = 200)]
    public Property EverySingleBitFlip_InTcpPacket_IsCaughtOrHarmless(PositiveInt seed)
    {
        using var pool = new LeakCheckedPool();
        var rng = new Random(seed.Get);
        byte[] bytes = Packets.Ipv4Tcp(Packets.Tcp(seq: (uint)rng.Next()), Packets.Payload(rng.Next(0, 200), seed.Get));
        int bit = rng.Next(bytes.Length * 8);
        bytes[bit / 8] ^= (byte)(1 << (bit % 8));
        var (verdict, _, _, _) = Check(pool, bytes);
        // The internet checksum catches every single-bit error in covered bytes; a flip in TTL (not covered by
        // the TCP checksum) is caught by the header checksum. Nothing slips through as Validated.
        return (verdict != RxVerdict.Validated).Label($"bit {bit} slipped through");
    }
}
