// UDP GRO on write: a flow's datagrams leave as one USO packet that the kernel cuts back into exactly them.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>UDP GRO on write: a flow's datagrams leave as one USO packet that the kernel cuts back into exactly them.</summary>
public class UdpGroOnWriteTests
{
    private static byte[] Datagram(bool v6, int size, int index, ushort port = 5000)
    {
        byte[] payload = Packets.Payload(size, seed: 10 + index);
        if (v6)
        {
            return Packets.Ipv6Udp(payload, sport: port);
        }
        byte[] d = Packets.Ipv4Udp(payload, sport: port);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4), (ushort)(300 + index));
        Ipv4Header.RecomputeChecksum(d);
        return d;
    }

    private static List<byte[]> KernelView(byte[] message, PacketBufferPool pool)
    {
        Assert.True(VirtioNetHeader.TryParse(message, out VirtioNetHeader h, out _));
        using PacketBuffer packet = pool.RentCopy(message.AsSpan(VirtioNetHeader.Length));
        Assert.Equal(TunDropReason.None, VirtioInbound.Prepare(packet, h));
        var output = new PacketBuffer[64];
        Assert.True(UdpGsoSplitter.TrySplit(packet, pool, output, out int count));
        var result = output[..count].Select(p => p.ToArray()).ToList();
        foreach (PacketBuffer p in output[..count])
        {
            p.Release();
        }
        return result;
    }

    private static TunEndpoint Endpoint(FakeTun tun, LeakCheckedPool pool) =>
        new(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FlowOfEqualDatagrams_OneUsoPacket_KernelCutsThemBack(bool v6)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        var datagrams = Enumerable.Range(0, 5).Select(i => Datagram(v6, i < 4 ? 1200 : 500, i)).ToList();
        using (TunEndpoint endpoint = Endpoint(tun, pool))
        {
            Assert.True(endpoint.UdpGroOnWrite);
            endpoint.WriteBatch(datagrams.Select(d => pool.Pool.RentCopy(d, headroom: 64)).ToArray());
            byte[] message = Assert.Single(tun.ReceiveAll());
            Assert.True(VirtioNetHeader.TryParse(message, out VirtioNetHeader h, out _));
            int l4 = v6 ? 40 : 20;
            Assert.Equal(new VirtioNetHeader
            {
                Flags = VirtioNetFlags.NeedsChecksum,
                GsoTypeByte = (byte)VirtioGsoType.UdpL4,
                HeaderLength = (ushort)(l4 + 8),
                GsoSize = 1200,
                ChecksumStart = (ushort)l4,
                ChecksumOffset = 6,
            }, h);
            Assert.Equal(datagrams, KernelView(message, pool.Pool));
        }
    }

    [Fact]
    public void LargerDatagram_OrOtherFlow_EndsTheRun()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[][] batch =
        [
            Datagram(false, 1000, 0), Datagram(false, 1000, 1), // merged
            Datagram(false, 1100, 2),                           // larger than the run's size: new run
            Datagram(false, 1100, 3, port: 6000),               // another flow
        ];
        using TunEndpoint endpoint = Endpoint(tun, pool);
        endpoint.WriteBatch(batch.Select(d => pool.Pool.RentCopy(d, headroom: 64)).ToArray());
        List<byte[]> messages = tun.ReceiveAll();
        Assert.Equal(3, messages.Count);
        Assert.Equal(batch[..2], KernelView(messages[0], pool.Pool));
        Assert.Equal(batch[2], messages[1][VirtioNetHeader.Length..]);
        Assert.Equal(batch[3], messages[2][VirtioNetHeader.Length..]);
    }

    [Fact]
    public void NonConsecutiveIpv4Ids_NotMerged()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] a = Datagram(false, 800, 0), b = Datagram(false, 800, 5);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        endpoint.WriteBatch(new[] { pool.Pool.RentCopy(a, headroom: 64), pool.Pool.RentCopy(b, headroom: 64) });
        Assert.Equal([a, b], tun.ReceiveAll().Select(m => m[VirtioNetHeader.Length..]).ToList());
    }

    [Fact]
    public void WithoutUso_NoUdpGroOnWrite()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true, TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6);
        var datagrams = Enumerable.Range(0, 3).Select(i => Datagram(false, 900, i)).ToList();
        using TunEndpoint endpoint = Endpoint(tun, pool);
        Assert.False(endpoint.UdpGroOnWrite);
        endpoint.WriteBatch(datagrams.Select(d => pool.Pool.RentCopy(d, headroom: 64)).ToArray());
        Assert.Equal(datagrams, tun.ReceiveAll().Select(m => m[VirtioNetHeader.Length..]).ToList());
    }

    [Fact]
    public void Probe_WritesOneUsoAndOneTcpProbe_BothKeptOnAnAcceptingDevice()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        using TunEndpoint endpoint = Endpoint(tun, pool);
        endpoint.ProbeGroOnWrite();
        List<byte[]> messages = tun.ReceiveAll();
        Assert.Equal(2, messages.Count);
        Assert.True(VirtioNetHeader.TryParse(messages[0], out VirtioNetHeader uso, out _));
        Assert.Equal(VirtioGsoType.UdpL4, uso.GsoType);
        Assert.True(endpoint.UdpGroOnWrite);
        Assert.True(endpoint.TcpGroOnWrite);
    }
}
