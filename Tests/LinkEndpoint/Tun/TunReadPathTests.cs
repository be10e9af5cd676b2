// The TUN read side over a fake device: virtio headers judged, super-packets delivered or split, checksums trusted or completed.
using System.Buffers.Binary;
using NetStack.Link.Channels;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>The TUN read side over a fake device: what the "kernel" writes, what the stack's dispatcher gets.</summary>
public class TunReadPathTests
{
    private static TunEndpoint Endpoint(FakeTun tun, LeakCheckedPool pool, CapturingDispatcher dispatcher, InboundGsoMode mode = InboundGsoMode.Deliver, bool gro = true,
        bool trust = true)
    {
        var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, InboundGso = mode, EnableGro = gro, ProbeGroOnWrite = false, TrustKernelChecksums = trust });
        endpoint.Channel.Attach(dispatcher);
        return endpoint;
    }

    private static byte[] Message(VirtioNetHeader header, byte[] packet)
    {
        byte[] message = new byte[VirtioNetHeader.Length + packet.Length];
        header.Emit(message);
        packet.CopyTo(message, VirtioNetHeader.Length);
        return message;
    }

    private static VirtioNetHeader Tso(bool v6, ushort hdrLen = 52) => new()
    {
        Flags = VirtioNetFlags.NeedsChecksum,
        GsoTypeByte = (byte)(v6 ? VirtioGsoType.TcpV6 : VirtioGsoType.TcpV4),
        HeaderLength = hdrLen,
        GsoSize = GsoPackets.Mss,
        ChecksumStart = (ushort)(v6 ? 40 : 20),
        ChecksumOffset = 16,
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KernelSuperPacket_DeliveredWhole_PartialChecksumTrusted_HdrLenRecomputed(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] payload = Packets.Payload(30 * GsoPackets.Mss + 5);
        byte[] super = GsoPackets.Super(v6, payload);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher))
        {
            tun.Send(Message(Tso(v6, hdrLen: 7), super)); // hdr_len lies; it is never used
            endpoint.ReadBatch();
            var (bytes, gso, validated) = Assert.Single(dispatcher.Packets);
            Assert.True(validated); // CHECKSUM_PARTIAL from the kernel counts as verified
            int l4 = v6 ? 40 : 20;
            Assert.Equal(super, bytes); // untouched: the field still holds the pseudo-header sum
            Assert.Equal(GsoPackets.FullTcpChecksum(super), NetStack.Checksums.InternetChecksum.Finish(NetStack.Checksums.InternetChecksum.Sum(bytes.AsSpan(l4))));
            Assert.Equal(v6 ? GsoType.TcpV6 : GsoType.TcpV4, gso.Type);
            Assert.Equal(l4 + 32, gso.HeaderLength);
            Assert.Equal(GsoPackets.Mss, gso.MaxSegmentSize);
            Assert.True(gso.NeedsChecksum);
            Assert.Equal(l4, gso.ChecksumStart);
            Assert.Equal(16, gso.ChecksumOffset);
            Assert.Equal(1, endpoint.Events[TunEvent.GsoPacketsRead]);
            Assert.Equal(1, endpoint.Events[TunEvent.ChecksumsTrusted]);
            Assert.Equal(0, endpoint.Events[TunEvent.ChecksumsCompleted]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KernelSuperPacket_TrustOff_ChecksumCompletedAndVerified(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] payload = Packets.Payload(30 * GsoPackets.Mss + 5);
        byte[] super = GsoPackets.Super(v6, payload);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, trust: false))
        {
            tun.Send(Message(Tso(v6, hdrLen: 7), super));
            endpoint.ReadBatch();
            var (bytes, gso, validated) = Assert.Single(dispatcher.Packets);
            Assert.True(validated); // by RX validation, over the completed checksum
            int l4 = v6 ? 40 : 20;
            Assert.Equal(GsoPackets.FullTcpChecksum(super), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(l4 + 16)));
            Assert.Equal(super.AsSpan(0, l4 + 16).ToArray(), bytes[..(l4 + 16)]);
            Assert.Equal(super[(l4 + 18)..], bytes[(l4 + 18)..]);
            Assert.Equal(l4 + 32, gso.HeaderLength);
            Assert.False(gso.NeedsChecksum);
            Assert.Equal(1, endpoint.Events[TunEvent.ChecksumsCompleted]);
            Assert.Equal(0, endpoint.Events[TunEvent.ChecksumsTrusted]);
        }
    }

    [Fact]
    public void PartialChecksumNotAtTheTransportHeader_CompletedThenJudgedByRxValidation()
    {
        // csum_start 4 bytes into the TCP header (csum_offset 12 still names the checksum field): not trusted; the
        // completed checksum misses the ports, and RX validation drops the packet (a header that lies costs a
        // counted drop, never a wrong packet).
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] segment = Packets.Ipv4Tcp(Packets.Tcp(flags: TcpFlags.Ack | TcpFlags.Psh), Packets.Payload(700));
        uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(segment.AsSpan(12, 4), segment.AsSpan(16, 4), (byte)IpProtocol.Tcp, segment.Length - 20);
        TcpHeader.WritePartialChecksum(segment.AsSpan(20), pseudo);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, gro: false))
        {
            tun.Send(Message(new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 24, ChecksumOffset = 12 }, segment));
            endpoint.ReadBatch();
            Assert.Empty(dispatcher.Packets);
            Assert.Equal(1, endpoint.Events[TunEvent.ChecksumsCompleted]);
            Assert.Equal(1, endpoint.Channel.RxDrops[RxDropReason.TcpBadChecksum]);
        }
    }

    [Fact]
    public void DataValid_TrustedWithoutAChecksumPass()
    {
        // DATA_VALID is the kernel's CHECKSUM_UNNECESSARY: taken as verified (here even over a wrong checksum, which
        // shows that no pass was made; the kernel sets it only on checksums it verified).
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        TcpRepr tcp = Packets.Tcp(flags: TcpFlags.Ack | TcpFlags.Psh);
        byte[] segment = Packets.Ipv4Tcp(tcp, Packets.Payload(500));
        segment[^1] ^= 0xFF;
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, gro: false))
        {
            tun.Send(Message(new VirtioNetHeader { Flags = VirtioNetFlags.DataValid }, segment));
            endpoint.ReadBatch();
            var (bytes, gso, validated) = Assert.Single(dispatcher.Packets);
            Assert.True(validated);
            Assert.Equal(segment, bytes);
            Assert.False(gso.NeedsChecksum);
            Assert.Equal(1, endpoint.Events[TunEvent.ChecksumsTrusted]);
        }
    }

    [Fact]
    public void DataValid_TrustOff_VerifiedAndDropped()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] segment = Packets.Ipv4Tcp(Packets.Tcp(flags: TcpFlags.Ack | TcpFlags.Psh), Packets.Payload(500));
        segment[^1] ^= 0xFF;
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, gro: false, trust: false))
        {
            tun.Send(Message(new VirtioNetHeader { Flags = VirtioNetFlags.DataValid }, segment));
            endpoint.ReadBatch();
            Assert.Empty(dispatcher.Packets);
            Assert.Equal(1, endpoint.Channel.RxDrops[RxDropReason.TcpBadChecksum]);
        }
    }

    [Fact]
    public void KernelSuperPacket_SplitMode_SegmentsEqualTheOriginals()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] payload = Packets.Payload(12 * GsoPackets.Mss);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, InboundGsoMode.Split, gro: false))
        {
            tun.Send(Message(Tso(false), GsoPackets.Super(false, payload)));
            endpoint.ReadBatch();
            Assert.Equal(GsoPackets.Segments(false, payload), dispatcher.Packets.Select(p => p.Bytes).ToList());
            Assert.Equal(1, endpoint.Events[TunEvent.GsoPacketsSplit]);
        }
    }

    [Fact]
    public void Batch_OfMssSegments_CoalescedByGro_FlushedAtBatchEnd()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] payload = Packets.Payload(10 * GsoPackets.Mss);
        List<byte[]> segments = GsoPackets.Segments(false, payload);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher))
        {
            foreach (byte[] s in segments)
            {
                tun.Send(Message(default, s));
            }
            endpoint.ReadBatch();
            var (bytes, gso, _) = Assert.Single(dispatcher.Packets);
            Assert.Equal(10, gso.MaxSegmentSize == GsoPackets.Mss ? (bytes.Length - 52) / GsoPackets.Mss : -1);
            Assert.Equal(1, endpoint.Events[TunEvent.ReadBatches]);
            Assert.Equal(10, endpoint.Events[TunEvent.PacketsRead]);
        }
    }

    [Fact]
    public void GsoTypeForTheOtherIpVersion_Dropped()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        using TunEndpoint endpoint = Endpoint(tun, pool, dispatcher);
        tun.Send(Message(Tso(v6: false), GsoPackets.Super(v6: true, Packets.Payload(4000))));
        endpoint.ReadBatch();
        Assert.Empty(dispatcher.Packets);
        Assert.Equal(1, endpoint.Drops[TunDropReason.GsoTypeMismatch]);
    }

    [Fact]
    public void ReadShorterThanVirtioHeader_CountedDrop()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        using TunEndpoint endpoint = Endpoint(tun, pool, dispatcher);
        tun.Send([1, 2, 3, 4, 5]);
        tun.Send(Message(default, []));
        endpoint.ReadBatch();
        Assert.Empty(dispatcher.Packets);
        Assert.Equal(2, endpoint.Drops[TunDropReason.ShortRead]);
    }

    [Fact]
    public void NoVirtioHeader_PlainPacketsAndJumboSpillIntoASecondPiece()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        var dispatcher = new CapturingDispatcher();
        byte[] small = Packets.Ipv4Udp(Packets.Payload(200));
        TcpRepr tcp = Packets.Tcp(flags: TcpFlags.Ack | TcpFlags.Psh);
        byte[] jumbo = Packets.Ipv4Tcp(tcp, Packets.Payload(8960));
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher))
        {
            tun.Send(small);
            tun.Send(jumbo);
            endpoint.ReadBatch();
            Assert.Equal([small, jumbo], dispatcher.Packets.Select(p => p.Bytes).ToList());
            Assert.All(dispatcher.Packets, p => Assert.True(p.Validated));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PartialUdpChecksum_TrustedAsIs_OrCompletedThenValidated(bool trust)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] datagram = Packets.Ipv4Udp(Packets.Payload(333));
        byte[] partial = (byte[])datagram.Clone();
        uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(partial.AsSpan(12, 4), partial.AsSpan(16, 4), (byte)IpProtocol.Udp, partial.Length - 20);
        UdpHeader.WritePartialChecksum(partial.AsSpan(20), pseudo);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher, trust: trust))
        {
            tun.Send(Message(new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 20, ChecksumOffset = 6 }, partial));
            endpoint.ReadBatch();
            var (bytes, gso, validated) = Assert.Single(dispatcher.Packets);
            Assert.True(validated);
            Assert.Equal(trust ? partial : datagram, bytes);
            Assert.Equal(trust, gso.NeedsChecksum);
            Assert.Equal(trust ? 1 : 0, endpoint.Events[TunEvent.ChecksumsTrusted]);
            Assert.Equal(trust ? 0 : 1, endpoint.Events[TunEvent.ChecksumsCompleted]);
        }
    }

    [Fact]
    public void UsoPacket_SplitIntoItsDatagrams()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] payload = Packets.Payload(3 * 1200 + 100);
        byte[] uso = Packets.Ipv4Udp(payload);
        uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(uso.AsSpan(12, 4), uso.AsSpan(16, 4), (byte)IpProtocol.Udp, uso.Length - 20);
        UdpHeader.WritePartialChecksum(uso.AsSpan(20), pseudo);
        var expected = Enumerable.Range(0, 4).Select(i =>
        {
            byte[] d = Packets.Ipv4Udp(payload.AsSpan(i * 1200, Math.Min(1200, payload.Length - (i * 1200))));
            return d;
        }).ToList();
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher))
        {
            var header = new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, GsoTypeByte = (byte)VirtioGsoType.UdpL4, GsoSize = 1200, ChecksumStart = 20, ChecksumOffset = 6, HeaderLength = 28 };
            tun.Send(Message(header, uso));
            endpoint.ReadBatch();
            // Packets.Ipv4Udp uses ID 0 for every datagram; USO gives ID + i: compare with the IDs patched in.
            for (int i = 0; i < expected.Count; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(expected[i].AsSpan(4), (ushort)i);
                Ipv4Header.RecomputeChecksum(expected[i]);
            }
            Assert.Equal(expected, dispatcher.Packets.Select(p => p.Bytes).ToList());
        }
    }
}
