using NetStack.Buffers;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>RFC 3449 §5.2.1 ACK filtering on write: exactly which ACKs of a batch are superseded, and which never are.</summary>
public class AckFilterTests
{
    private static byte[] Ack(uint ack, ushort window = 1000, TcpFlags flags = TcpFlags.Ack, ushort sport = 40000, bool v6 = false, bool timestamps = true,
        TcpSackBlock? sack = null, int payload = 0)
    {
        TcpRepr tcp = Packets.Tcp(seq: 5000, ack: ack, flags: flags, sport: sport);
        tcp.WindowSize = window;
        if (timestamps)
        {
            tcp.Timestamps = new TcpTimestamps(ack, 77);
        }
        if (sack is { } block)
        {
            tcp.SackBlocks.TryAdd(block);
        }
        byte[] data = Packets.Payload(payload);
        return v6 ? Packets.Ipv6Tcp(tcp, data) : Packets.Ipv4Tcp(tcp, data);
    }

    /// <summary>Runs the filter over <paramref name="packets"/>; returns the indices kept, in order.</summary>
    private static List<int> Kept(params byte[][] packets)
    {
        using var pool = new LeakCheckedPool();
        var batch = packets.Select(p => pool.Pool.RentCopy(p, headroom: 32)).ToArray();
        var original = batch.ToArray();
        int kept = new AckFilter().Apply(batch);
        var result = batch[..kept].Select(p => Array.IndexOf(original, p)).ToList();
        Assert.All(batch[kept..], p => Assert.Null(p));
        foreach (PacketBuffer p in batch[..kept])
        {
            p.Release();
        }
        return result; // the pool's leak check proves the removed ones were released
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IncreasingPureAcks_OnlyTheLastIsWritten(bool v6) =>
        Assert.Equal([2], Kept(Ack(100, v6: v6), Ack(200, v6: v6), Ack(300, window: 900, v6: v6)));

    [Fact]
    public void DuplicateAcks_AllWritten() => // RFC 5681 §3.2: the sender counts them
        Assert.Equal([0, 1, 2], Kept(Ack(100), Ack(100), Ack(100)));

    [Fact]
    public void WindowUpdateWithTheSameAck_Written() =>
        Assert.Equal([0, 1], Kept(Ack(100, window: 10), Ack(100, window: 5000)));

    [Fact]
    public void AckWithSack_NeitherFilteredNorSuperseding() =>
        Assert.Equal([0, 1, 2], Kept(Ack(100), Ack(200, sack: new TcpSackBlock(300, 400)), Ack(100, sack: new TcpSackBlock(300, 500))));

    [Theory]
    [InlineData(TcpFlags.Ack | TcpFlags.Psh)]
    [InlineData(TcpFlags.Ack | TcpFlags.Fin)]
    [InlineData(TcpFlags.Ack | TcpFlags.Ece)]
    [InlineData(TcpFlags.Ack | TcpFlags.Cwr)]
    [InlineData(TcpFlags.Ack | TcpFlags.Urg)]
    public void AckWithOtherFlags_Written(TcpFlags flags) =>
        Assert.Equal([0, 1], Kept(Ack(100, flags: flags), Ack(200)));

    [Fact]
    public void AckWithPayload_Written_AndDoesNotSupersede() =>
        Assert.Equal([0, 1], Kept(Ack(100), Ack(200, payload: 10)));

    [Fact]
    public void DataBetweenAcks_KeptInPlace() =>
        Assert.Equal([1, 2], Kept(Ack(100), Ack(150, payload: 500), Ack(200)));

    [Fact]
    public void InterleavedConnections_EachKeepsItsLast_OrderPreserved() =>
        Assert.Equal([2, 3, 4], Kept(Ack(100, sport: 1), Ack(100, sport: 2), Ack(200, sport: 1), Ack(300, sport: 2), Ack(50, sport: 3)));

    [Fact]
    public void SameAddressesAndPortsOtherIpVersion_NotOneConnection() =>
        Assert.Equal([0, 1], Kept(Ack(100, v6: false), Ack(200, v6: true)));

    [Fact]
    public void AckNumberWrapsAround_StillSuperseded() => // RFC 9293 §3.4: sequence space arithmetic
        Assert.Equal([1], Kept(Ack(0xFFFF_FFF0), Ack(0x10)));

    [Fact]
    public void LaterAckAcknowledgingLess_NothingDropped() =>
        Assert.Equal([0, 1], Kept(Ack(300), Ack(200)));

    [Fact]
    public void WithoutTimestamps_StillFiltered() =>
        Assert.Equal([1], Kept(Ack(100, timestamps: false), Ack(200, timestamps: false)));

    [Fact]
    public void Ipv4WithOptionsOrFragment_NotACandidate()
    {
        byte[] fragment = Ack(100);
        fragment[6] = 0x20; // MF
        Ipv4Header.RecomputeChecksum(fragment);
        Assert.Equal([0, 1], Kept(fragment, Ack(200)));
    }

    [Fact]
    public void NonTcpAndShortPackets_Ignored() =>
        Assert.Equal([0, 1, 2], Kept(Packets.Ipv4Udp(Packets.Payload(20)), [0x45, 0, 0], Ack(100)));

    [Fact]
    public void ThroughTheWritePath_TheDeviceSeesOnlyTheLastAck_Counted()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[][] acks = [Ack(100), Ack(200), Ack(300)];
        using (var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false }))
        {
            PacketBuffer[] batch = acks.Select(a => pool.Pool.RentCopy(a, headroom: 32)).ToArray();
            endpoint.WriteBatch(batch);
            byte[] message = tun.Receive()!;
            Assert.Equal(acks[2], message[VirtioNetHeader.Length..]);
            Assert.Null(tun.Receive(timeoutMs: 50));
            Assert.Equal(2, endpoint.Events[TunEvent.AcksFiltered]);
            Assert.Equal(1, endpoint.Events[TunEvent.PacketsWritten]);
        }
    }

    [Fact]
    public void Off_EveryAckWritten()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        using (var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false, AckFilter = false }))
        {
            endpoint.WriteBatch(new[] { Ack(100), Ack(200) }.Select(a => pool.Pool.RentCopy(a, headroom: 32)).ToArray());
            Assert.NotNull(tun.Receive());
            Assert.NotNull(tun.Receive());
            Assert.Equal(0, endpoint.Events[TunEvent.AcksFiltered]);
        }
    }
}
