using System.Buffers.Binary;
using NetStack.Link.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Tun;

/// <summary>RFC 6864 §4.1: atomic datagrams' IDs are renumbered per flow so GRO on write can merge interleaved flows.</summary>
public class AtomicIdRenumbererTests
{
    private static ushort Id(byte[] packet) => BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(4));

    [Fact]
    public void InSequence_Untouched_OutOfSequence_NextIdAndValidChecksum()
    {
        using var pool = new LeakCheckedPool();
        var renumberer = new AtomicIdRenumberer();
        byte[] payload = Packets.Payload(3 * GsoPackets.Mss);
        List<byte[]> segments = GsoPackets.Segments(false, payload); // IDs 100, 101, 102
        BinaryPrimitives.WriteUInt16BigEndian(segments[2].AsSpan(4), 140); // another flow took 102..139
        Ipv4Header.RecomputeChecksum(segments[2]);
        var results = new List<byte[]>();
        foreach (byte[] s in segments)
        {
            using var packet = pool.Pool.RentCopy(s);
            renumberer.Apply(packet);
            results.Add(packet.ToArray());
        }
        Assert.Equal(segments[0], results[0]);
        Assert.Equal(segments[1], results[1]);
        Assert.Equal(102, Id(results[2]));
        Assert.True(Ipv4Header.VerifyChecksum(results[2].AsSpan(0, 20)));
        Assert.Equal(segments[2][20..], results[2][20..]);
        Assert.Equal(1, renumberer.Renumbered);
    }

    [Fact]
    public void NotAtomic_DfClear_LeftAlone()
    {
        using var pool = new LeakCheckedPool();
        var renumberer = new AtomicIdRenumberer();
        byte[] a = GsoPackets.Segment(false, 0, 2, Packets.Payload(3000));
        byte[] b = GsoPackets.Segment(false, 1, 2, Packets.Payload(3000));
        foreach (byte[] p in new[] { a, b })
        {
            p[6] = 0; // DF off: the ID may be needed for reassembly
            Ipv4Header.RecomputeChecksum(p);
        }
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), 7);
        Ipv4Header.RecomputeChecksum(b);
        using var first = pool.Pool.RentCopy(a);
        using var second = pool.Pool.RentCopy(b);
        renumberer.Apply(first);
        renumberer.Apply(second);
        Assert.Equal(b, second.ToArray());
        Assert.Equal(0, renumberer.Renumbered);
    }

    [Fact]
    public void SharedPacket_LeftAlone()
    {
        using var pool = new LeakCheckedPool();
        var renumberer = new AtomicIdRenumberer();
        List<byte[]> segments = GsoPackets.Segments(false, Packets.Payload(2 * GsoPackets.Mss));
        BinaryPrimitives.WriteUInt16BigEndian(segments[1].AsSpan(4), 999);
        using var first = pool.Pool.RentCopy(segments[0]);
        using var second = pool.Pool.RentCopy(segments[1]);
        renumberer.Apply(first);
        second.AddRef();
        renumberer.Apply(second);
        second.Release();
        Assert.Equal(999, Id(second.ToArray()));
    }

    [Fact]
    public void GroOnWrite_FlowWithForeignIdGaps_StillOneSuperPacket()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: true);
        byte[] payload = Packets.Payload(6 * GsoPackets.Mss);
        List<byte[]> segments = GsoPackets.Segments(false, payload);
        for (int i = 0; i < segments.Count; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(segments[i].AsSpan(4), (ushort)(100 + (3 * i))); // IDs shared with two other flows
            Ipv4Header.RecomputeChecksum(segments[i]);
        }
        using var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false });
        endpoint.WriteBatch(segments.Select(s => pool.Pool.RentCopy(s, headroom: 64)).ToArray());
        byte[] message = Assert.Single(tun.ReceiveAll());
        Assert.True(VirtioNetHeader.TryParse(message, out VirtioNetHeader h, out _));
        Assert.Equal(VirtioGsoType.TcpV4, h.GsoType);
        Assert.Equal(5, endpoint.Events[TunEvent.IdsRenumbered]);
        // The kernel's segments carry IDs 100 + i: the flow as if it had had the IDs to itself.
        Assert.Equal(GsoPackets.Segments(false, payload), TunWritePathTests.KernelView(message, pool.Pool));
    }
}
