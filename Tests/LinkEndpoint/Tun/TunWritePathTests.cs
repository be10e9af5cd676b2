// The TUN write side over a fake device: virtio header + pieces per writev, GRO on write, the software path.
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Link.Tun;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>The TUN write side over a fake device: exact messages (virtio header + packet) for GSO, GRO on write and the software path.</summary>
public class TunWritePathTests
{
    private static TunEndpoint Endpoint(FakeTun tun, LeakCheckedPool pool, bool groOnWrite = true) =>
        new(tun.Device, new TunEndpointOptions { Pool = pool.Pool, TcpGroOnWrite = groOnWrite, ProbeGroOnWrite = false });

    private static VirtioNetHeader Header(byte[] message)
    {
        Assert.True(VirtioNetHeader.TryParse(message, out VirtioNetHeader h, out _));
        return h;
    }

    /// <summary>What the kernel does with a GSO write, done here: complete the checksum, then segment.</summary>
    internal static List<byte[]> KernelView(byte[] message, PacketBufferPool pool)
    {
        VirtioNetHeader h = Header(message);
        using PacketBuffer packet = pool.RentCopy(message.AsSpan(VirtioNetHeader.Length));
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(packet, h));
        var output = new PacketBuffer[64];
        Assert.True(GsoSegmenter.TrySplit(packet, pool, output, out int count, out _));
        var result = output[..count].Select(p => p.ToArray()).ToList();
        foreach (PacketBuffer p in output[..count])
        {
            p.Release();
        }
        return result;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SuperSegment_OneWritev_VirtioHeaderAndBytes(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(10 * GsoPackets.Mss - 100);
        using (TunEndpoint endpoint = Endpoint(tun, pool))
        {
            PacketBuffer packet = GsoPackets.Pooled(pool, v6, payload, pieces: 4);
            endpoint.WritePacket(packet);
            packet.Release();
            byte[] message = tun.Receive()!;
            Assert.Equal(new VirtioNetHeader
            {
                Flags = VirtioNetFlags.NeedsChecksum,
                GsoTypeByte = (byte)(v6 ? VirtioGsoType.TcpV6 : VirtioGsoType.TcpV4),
                HeaderLength = (ushort)(v6 ? 72 : 52),
                GsoSize = GsoPackets.Mss,
                ChecksumStart = (ushort)(v6 ? 40 : 20),
                ChecksumOffset = 16,
            }, Header(message));
            Assert.Equal(GsoPackets.Super(v6, payload), message[VirtioNetHeader.Length..]);
            Assert.Equal(GsoPackets.Segments(v6, payload), KernelView(message, pool.Pool));
            Assert.Equal(1, endpoint.Events[TunEvent.GsoPacketsWritten]);
            Assert.Equal(10, endpoint.Events[TunEvent.SegmentsWritten]);
            Assert.Null(tun.Receive(20));
        }
    }

    [Fact]
    public void HeaderLength_RecomputedFromPacket_NotTakenFromGsoOptions()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(3 * GsoPackets.Mss);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        PacketBuffer packet = GsoPackets.Pooled(pool, false, payload);
        packet.Gso.HeaderLength = 40; // a lie: the TCP header has 12 bytes of options
        endpoint.WritePacket(packet);
        packet.Release();
        Assert.Equal(52, Header(tun.Receive()!).HeaderLength);
    }

    [Fact]
    public void SharedPacket_HeaderAsSeparatePiece_PacketUntouched()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(4 * GsoPackets.Mss);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        PacketBuffer packet = GsoPackets.Pooled(pool, false, payload);
        packet.AddRef(); // e.g. kept for retransmission
        int headroom = packet.Headroom;
        byte[] before = packet.ToArray();
        endpoint.WritePacket(packet);
        Assert.Equal(headroom, packet.Headroom);
        Assert.Equal(before, packet.ToArray());
        packet.Release();
        packet.Release();
        byte[] message = tun.Receive()!;
        Assert.Equal(VirtioGsoType.TcpV4, Header(message).GsoType);
        Assert.Equal(before, message[VirtioNetHeader.Length..]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GroOnWrite_MssSegmentsOfAFlow_OneSuperPacket(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(8 * GsoPackets.Mss);
        List<byte[]> segments = GsoPackets.Segments(v6, payload);
        using (TunEndpoint endpoint = Endpoint(tun, pool))
        {
            PacketBuffer[] batch = segments.Select(s => pool.Pool.RentCopy(s, headroom: 64)).ToArray();
            endpoint.WriteBatch(batch);
            Assert.All(batch, Assert.Null);
            List<byte[]> messages = tun.ReceiveAll();
            byte[] message = Assert.Single(messages);
            VirtioNetHeader h = Header(message);
            Assert.Equal(VirtioNetFlags.NeedsChecksum, h.Flags);
            Assert.Equal(v6 ? VirtioGsoType.TcpV6 : VirtioGsoType.TcpV4, h.GsoType);
            Assert.Equal(GsoPackets.Mss, h.GsoSize);
            Assert.Equal(v6 ? 72 : 52, h.HeaderLength);
            // What the kernel makes of it is what the stack sent, byte for byte.
            Assert.Equal(segments, KernelView(message, pool.Pool));
            Assert.Equal(7, endpoint.Events[TunEvent.WriteGroMerged]);
        }
    }

    [Fact]
    public void GroOnWrite_TwoInterleavedFlows_OneSuperPacketEach_AndSinglesGetZeroHeader()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] a = Packets.Payload(4 * GsoPackets.Mss, seed: 1);
        byte[] b = Packets.Payload(4 * GsoPackets.Mss, seed: 2);
        List<byte[]> flowA = GsoPackets.Segments(false, a);
        List<byte[]> flowB = GsoPackets.Segments(true, b);
        byte[] lone = Packets.Ipv4Udp(Packets.Payload(100));
        using TunEndpoint endpoint = Endpoint(tun, pool);
        var batch = new List<PacketBuffer>();
        for (int i = 0; i < 4; i++)
        {
            batch.Add(pool.Pool.RentCopy(flowA[i], headroom: 64));
            batch.Add(pool.Pool.RentCopy(flowB[i], headroom: 64));
        }
        batch.Add(pool.Pool.RentCopy(lone, headroom: 64));
        endpoint.WriteBatch(batch.ToArray());
        List<byte[]> messages = tun.ReceiveAll();
        Assert.Equal(3, messages.Count);
        byte[] single = Assert.Single(messages, m => Header(m).GsoType == VirtioGsoType.None);
        Assert.Equal(default, Header(single)); // every field initialised: all zero
        Assert.Equal(lone, single[VirtioNetHeader.Length..]);
        Assert.Equal(flowA, KernelView(Assert.Single(messages, m => Header(m).GsoType == VirtioGsoType.TcpV4), pool.Pool));
        Assert.Equal(flowB, KernelView(Assert.Single(messages, m => Header(m).GsoType == VirtioGsoType.TcpV6), pool.Pool));
    }

    [Fact]
    public void GroOnWriteOff_EachSegmentWrittenAlone()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        List<byte[]> segments = GsoPackets.Segments(false, Packets.Payload(3 * GsoPackets.Mss));
        using TunEndpoint endpoint = Endpoint(tun, pool, groOnWrite: false);
        endpoint.WriteBatch(segments.Select(s => pool.Pool.RentCopy(s, headroom: 64)).ToArray());
        List<byte[]> messages = tun.ReceiveAll();
        Assert.Equal(segments, messages.Select(m => m[VirtioNetHeader.Length..]).ToList());
        Assert.All(messages, m => Assert.Equal(default, Header(m)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoVirtioHeader_SuperSegmentSplitInSoftware(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        byte[] payload = Packets.Payload(5 * GsoPackets.Mss + 17);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        Assert.Equal(GsoSupport.None, endpoint.Channel.SupportedGso);
        PacketBuffer packet = GsoPackets.Pooled(pool, v6, payload);
        endpoint.WritePacket(packet);
        packet.Release();
        Assert.Equal(GsoPackets.Segments(v6, payload), tun.ReceiveAll());
        Assert.Equal(1, endpoint.Events[TunEvent.SoftwareSegmented]);
    }

    [Fact]
    public void VirtioHeader_SuperSegmentWithFullChecksum_SoftwareSegmentsWithZeroHeaders()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(3 * GsoPackets.Mss);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        PacketBuffer packet = GsoPackets.Pooled(pool, false, payload);
        packet.Gso.NeedsChecksum = false; // the kernel needs CHECKSUM_PARTIAL for a GSO write
        endpoint.WritePacket(packet);
        packet.Release();
        List<byte[]> messages = tun.ReceiveAll();
        Assert.All(messages, m => Assert.Equal(default, Header(m)));
        Assert.Equal(GsoPackets.Segments(false, payload), messages.Select(m => m[VirtioNetHeader.Length..]).ToList());
    }

    [Fact]
    public void BadGsoMetadata_CountedDrop_NothingWritten()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        PacketBuffer packet = GsoPackets.Pooled(pool, false, Packets.Payload(3000));
        packet.Gso.Type = GsoType.TcpV6; // an IPv4 packet
        endpoint.WritePacket(packet);
        packet.Release();
        Assert.Null(tun.Receive(20));
        Assert.Equal(1, endpoint.Drops[TunDropReason.BadOutboundGso]);
    }

    [Fact]
    public void Probe_AcceptingDevice_KeepsGroOnWrite_AndWritesOneMergedProbe()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true, TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6); // TCP probe only
        using TunEndpoint endpoint = Endpoint(tun, pool);
        endpoint.ProbeGroOnWrite();
        Assert.True(endpoint.TcpGroOnWrite);
        byte[] probe = tun.Receive()!;
        VirtioNetHeader h = Header(probe);
        Assert.Equal(VirtioGsoType.TcpV4, h.GsoType);
        Assert.Equal(22, h.GsoSize);
        Assert.Equal(new byte[] { 127, 0, 0, 1 }, probe.AsSpan(VirtioNetHeader.Length + 16, 4).ToArray()); // to 127.0.0.1
        Assert.Equal(0, probe[VirtioNetHeader.Length + 8]); // TTL 0
    }

    [Fact]
    public void Started_ChannelToDevice_AndCleanShutdownReleasesEverything()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        List<byte[]> segments = GsoPackets.Segments(false, Packets.Payload(6 * GsoPackets.Mss));
        using (TunEndpoint endpoint = Endpoint(tun, pool))
        {
            endpoint.Start();
            PacketBuffer[] packets = segments.Select(s => pool.Pool.RentCopy(s, headroom: 64)).ToArray();
            Assert.Equal(packets.Length, endpoint.Channel.WritePackets(packets));
            var received = new List<byte[]>();
            while (received.Count < 6 && tun.Receive() is { } m)
            {
                received.AddRange(Header(m).GsoType == VirtioGsoType.None ? [m[VirtioNetHeader.Length..]] : KernelView(m, pool.Pool));
            }
            Assert.Equal(segments, received);
            // Queue more than the writer has taken, then stop: Dispose must release whatever is still queued.
            endpoint.Channel.WritePackets(segments.Select(s => pool.Pool.RentCopy(s, headroom: 64)).ToArray());
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void FullDevice_EachWriteTailDroppedAtOnce_CountedAsDeviceFull()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        byte[] datagram = Packets.Ipv4Udp(Packets.Payload(1400));
        int written = 0;
        while (endpoint.Drops[TunDropReason.DeviceFull] + endpoint.Drops[TunDropReason.WriteFailed] == 0 && written < 10_000) // until the "kernel" stops taking
        {
            PacketBuffer packet = pool.Pool.RentCopy(datagram);
            endpoint.WritePacket(packet);
            packet.Release();
            written++;
        }
        Assert.Equal(1, endpoint.Drops[TunDropReason.DeviceFull]);
        for (int i = 0; i < 20; i++)
        {
            PacketBuffer packet = pool.Pool.RentCopy(datagram);
            endpoint.WritePacket(packet);
            packet.Release();
        }
        Assert.Equal(21, endpoint.Drops[TunDropReason.DeviceFull]);
        Assert.Equal(0, endpoint.Drops[TunDropReason.WriteFailed]);
        Assert.Equal(written - 1, tun.ReceiveAll().Count); // what the device took came through whole
        PacketBuffer after = pool.Pool.RentCopy(datagram);
        endpoint.WritePacket(after); // drained: the device takes packets again
        after.Release();
        Assert.Equal(datagram, tun.Receive());
    }
}
