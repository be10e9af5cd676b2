using System.Buffers.Binary;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Tun;

/// <summary>The TUN read side over a fake device: what the "kernel" writes, what the stack's dispatcher gets.</summary>
public class TunReadPathTests
{
    private static TunEndpoint Endpoint(FakeTun tun, LeakCheckedPool pool, CapturingDispatcher dispatcher, InboundGsoMode mode = InboundGsoMode.Deliver, bool gro = true)
    {
        var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, InboundGso = mode, EnableGro = gro, ProbeGroOnWrite = false });
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
    public void KernelSuperPacket_DeliveredWhole_ChecksumCompleted_HdrLenRecomputed(bool v6)
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
            Assert.True(validated);
            int l4 = v6 ? 40 : 20;
            Assert.Equal(GsoPackets.FullTcpChecksum(super), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(l4 + 16)));
            Assert.Equal(super.AsSpan(0, l4 + 16).ToArray(), bytes[..(l4 + 16)]);
            Assert.Equal(super[(l4 + 18)..], bytes[(l4 + 18)..]);
            Assert.Equal(v6 ? GsoType.TcpV6 : GsoType.TcpV4, gso.Type);
            Assert.Equal(l4 + 32, gso.HeaderLength);
            Assert.Equal(GsoPackets.Mss, gso.MaxSegmentSize);
            Assert.False(gso.NeedsChecksum);
            Assert.Equal(1, endpoint.Events[TunEvent.GsoPacketsRead]);
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

    [Fact]
    public void PartialUdpChecksum_Completed_ThenValidated()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var dispatcher = new CapturingDispatcher();
        byte[] datagram = Packets.Ipv4Udp(Packets.Payload(333));
        byte[] partial = (byte[])datagram.Clone();
        uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(partial.AsSpan(12, 4), partial.AsSpan(16, 4), (byte)IpProtocol.Udp, partial.Length - 20);
        UdpHeader.WritePartialChecksum(partial.AsSpan(20), pseudo);
        using (TunEndpoint endpoint = Endpoint(tun, pool, dispatcher))
        {
            tun.Send(Message(new VirtioNetHeader { Flags = VirtioNetFlags.NeedsChecksum, ChecksumStart = 20, ChecksumOffset = 6 }, partial));
            endpoint.ReadBatch();
            Assert.Equal(datagram, Assert.Single(dispatcher.Packets).Bytes);
            Assert.Equal(1, endpoint.Events[TunEvent.ChecksumsCompleted]);
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
