// Exact-packet tests of reassembly's per-source quota, its eviction by source and the compaction of fragments
// that pin large chunks (issue 14, item 5).
using System.Buffers.Binary;
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class ReassemblyQuotaTests
{
    private static readonly NetAddress Victim = NetAddress.Parse("192.0.2.10");
    private static readonly NetAddress Attacker = NetAddress.Parse("198.51.100.66");

    private static (FakeTimeProvider Time, FragmentReassembler Reassembler) Make(ReassemblyOptions? options = null)
    {
        var time = new FakeTimeProvider(Frag.Start);
        return (time, new FragmentReassembler(time, options));
    }

    /// <summary>A first fragment (40 data bytes, MF set) of datagram <paramref name="id"/> from <paramref name="source"/>.</summary>
    private static byte[] FirstFragment(NetAddress source, ushort id, int dataLength = 40)
    {
        byte[] fragment = Frag.Ipv4Fragment(Frag.Ipv4Datagram(dataLength + 40, id: id), 0, dataLength, true);
        BinaryPrimitives.WriteUInt32BigEndian(fragment.AsSpan(Ipv4Header.SourceOffset), source.V4);
        Ipv4Header.RecomputeChecksum(fragment);
        return fragment;
    }

    private static byte[] LastFragment(NetAddress source, ushort id, int dataLength = 40)
    {
        byte[] fragment = Frag.Ipv4Fragment(Frag.Ipv4Datagram(dataLength + 40, id: id), dataLength, 40, false);
        BinaryPrimitives.WriteUInt32BigEndian(fragment.AsSpan(Ipv4Header.SourceOffset), source.V4);
        Ipv4Header.RecomputeChecksum(fragment);
        return fragment;
    }

    [Fact]
    public void Quota_OneSourceFloodsTheBudget_AnotherSourcesDatagramStillCompletes()
    {
        // With the defaults (4 MiB, 1024 datagrams) 2,048 first fragments of 2 KiB chunks from one source used to
        // fill the whole budget and evict the victim's waiting datagram.
        using var pool = new LeakCheckedPool();
        var (time, r) = Make();
        Assert.Equal(ReassemblyStatus.Held, r.Process(pool.Pool.RentCopy(FirstFragment(Victim, 7))).Status);
        for (int i = 0; i < 2048; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            r.Process(pool.Pool.RentCopy(FirstFragment(Attacker, (ushort)(1000 + i))));
        }

        Assert.Equal(r.Options.MaxDatagramsPerSource + 1, r.DatagramsInFlight);
        Assert.True(r.BytesHeldBy(Attacker) <= r.Options.MaxBytesPerSource);
        Assert.Equal(2048 - r.Options.MaxDatagramsPerSource, r.Drops[ReassemblyDropReason.Evicted]);
        ReassemblyResult done = r.Process(pool.Pool.RentCopy(LastFragment(Victim, 7)));
        Assert.Equal(ReassemblyStatus.Completed, done.Status);
        done.Packet!.Release();
        r.Dispose();
    }

    [Fact]
    public void Quota_SourceOverItsBytes_LosesItsOwnOldestDatagram()
    {
        using var pool = new LeakCheckedPool();
        long cost;
        using (PacketBuffer probe = pool.Pool.RentCopy(FirstFragment(Attacker, 1)))
        {
            cost = FragmentReassembler.MemoryCost(probe);
        }
        var (time, r) = Make(new ReassemblyOptions { MaxBytesPerSource = cost * 2 });
        r.Process(pool.Pool.RentCopy(FirstFragment(Victim, 1)));
        for (ushort id = 1; id <= 3; id++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            r.Process(pool.Pool.RentCopy(FirstFragment(Attacker, id)));
        }

        Assert.Equal(cost * 2, r.BytesHeldBy(Attacker));
        Assert.Equal(cost, r.BytesHeldBy(Victim));
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Evicted]);
        // The attacker's oldest (id 1) went: its last fragment starts a new datagram instead of completing one.
        Assert.Equal(ReassemblyStatus.Held, r.Process(pool.Pool.RentCopy(LastFragment(Attacker, 1))).Status);
        r.Dispose();
    }

    [Fact]
    public void Quota_ADatagramLargerThanTheSourceQuota_IsDroppedAsSourceQuota()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make(new ReassemblyOptions { MaxBytesPerSource = 1000 });
        Assert.Equal(ReassemblyDropReason.SourceQuota, r.Process(pool.Pool.RentCopy(FirstFragment(Attacker, 1))).DropReason);
        Assert.Equal(0, r.DatagramsInFlight);
        Assert.Equal(0, r.SourcesHeld);
    }

    [Fact]
    public void Eviction_BudgetFull_TakesTheHeaviestSourceNotTheOldestDatagram()
    {
        using var pool = new LeakCheckedPool();
        long cost;
        using (PacketBuffer probe = pool.Pool.RentCopy(FirstFragment(Attacker, 1)))
        {
            cost = FragmentReassembler.MemoryCost(probe);
        }
        var (time, r) = Make(new ReassemblyOptions { MaxBytes = cost * 4, MaxBytesPerSource = cost * 4 });
        r.Process(pool.Pool.RentCopy(FirstFragment(Victim, 7))); // the oldest datagram, of the lighter source
        for (ushort id = 1; id <= 4; id++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            r.Process(pool.Pool.RentCopy(FirstFragment(Attacker, id)));
        }

        Assert.Equal(cost, r.BytesHeldBy(Victim));
        Assert.Equal(cost * 3, r.BytesHeldBy(Attacker));
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Evicted]);
        ReassemblyResult done = r.Process(pool.Pool.RentCopy(LastFragment(Victim, 7)));
        Assert.Equal(ReassemblyStatus.Completed, done.Status);
        done.Packet!.Release();
        r.Dispose();
    }

    [Fact]
    public void Quota_DatagramsPerSource_EvictsTheSourcesOwnOldest()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make(new ReassemblyOptions { MaxDatagramsPerSource = 2 });
        for (ushort id = 1; id <= 3; id++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            r.Process(pool.Pool.RentCopy(FirstFragment(Attacker, id)));
        }
        Assert.Equal(2, r.DatagramsInFlight);
        Assert.Equal(1, r.Events[ReassemblyEvent.DatagramEvicted]);
        r.Dispose();
        Assert.Equal(0, r.SourcesHeld);
    }

    [Fact]
    public void Compaction_FragmentSpilledIntoALargeChunk_IsChargedAsASmallOne()
    {
        // A TUN read lands a packet's tail in a 64 KiB chunk: held as is, one 60-byte fragment cost 66.5 KiB.
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] bytes = FirstFragment(Attacker, 1);
        PacketBuffer fragment = pool.Pool.Rent(60_000);
        bytes.CopyTo(fragment.Append(bytes.Length));
        Assert.True(FragmentReassembler.MemoryCost(fragment) > 60_000);

        Assert.Equal(ReassemblyStatus.Held, r.Process(fragment).Status);
        Assert.True(r.BytesHeld <= 2048 + FragmentReassembler.PerFragmentOverhead, $"charged {r.BytesHeld}");
        ReassemblyResult done = r.Process(pool.Pool.RentCopy(LastFragment(Attacker, 1)));
        Assert.Equal(ReassemblyStatus.Completed, done.Status);
        done.Packet!.Release();
        r.Dispose();
    }
}
