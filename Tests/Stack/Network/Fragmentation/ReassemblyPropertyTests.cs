// Properties of reassembly: any fragmentation in any order gives the original back; overlapping sets never
// complete; hostile floods stay within the configured memory and leave nothing behind.
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class ReassemblyPropertyTests
{
    /// <summary>A datagram to fragment: version, sizes, extension headers or options, and a seed for the cuts and the order.</summary>
    public sealed record Case(bool V6, int PayloadLength, bool HopByHop, bool Routing, bool DestinationOptions, bool Ipv4Options, int MaxPieces, int Seed)
    {
        public (byte[] Bytes, int HeaderLength, Func<Cut, byte[]> Fragment, int MinFirst) Build()
        {
            if (V6)
            {
                Ipv6Datagram d = Frag.Ipv6Datagram(PayloadLength, HopByHop, Routing, DestinationOptions, Seed);
                // RFC 7112: the first fragment must hold the destination options and the UDP header.
                return (d.Bytes, d.UnfragmentableLength, c => Frag.Ipv6Fragment(d, c, (uint)Seed), DestinationOptions ? 16 : 8);
            }
            byte[] options = [Ipv4Option.RouterAlert, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0];
            byte[] v4 = Frag.Ipv4Datagram(PayloadLength, (ushort)Seed, Ipv4Options ? options : null, Seed);
            return (v4, (v4[0] & 0x0F) * 4, c => Frag.Ipv4Fragment(v4, c), 8);
        }
    }

    private static readonly Gen<Case> Cases =
        from v6 in Gen.Elements(false, true)
        from payload in Gen.Choose(0, 3000)
        from hop in Gen.Elements(false, true)
        from routing in Gen.Elements(false, true)
        from dest in Gen.Elements(false, true)
        from v4Options in Gen.Elements(false, true)
        from pieces in Gen.Choose(1, 40)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(v6, payload, hop, routing, dest, v4Options, pieces, seed);

    /// <summary>A random split at 8-byte boundaries whose first piece is at least <paramref name="minFirst"/> bytes.</summary>
    private static Cut[] Split(Random random, int length, int maxPieces, int minFirst)
    {
        Cut[] cuts = Frag.RandomCuts(random, length, maxPieces);
        if (cuts.Length > 1 && cuts[0].Length < minFirst)
        {
            // Merge the first two pieces until the first holds the header chain.
            var list = cuts.ToList();
            while (list.Count > 1 && list[0].Length < minFirst)
            {
                list[0] = new Cut(0, list[0].Length + list[1].Length, list[1].More);
                list.RemoveAt(1);
            }
            cuts = list.ToArray();
        }
        return cuts;
    }

    [Property(MaxTest = 200)]
    public Property AnyFragmentationInAnyOrder_ReassemblesToTheOriginal() => Prop.ForAll(Arb.From(Cases), c =>
    {
        using var pool = new LeakCheckedPool();
        var random = new Random(c.Seed);
        var (bytes, headerLength, fragment, minFirst) = c.Build();
        Cut[] cuts = Split(random, bytes.Length - headerLength, c.MaxPieces, minFirst);
        var order = cuts.Select(fragment).ToList();
        if (cuts.Length > 1)
        {
            // Exact duplicates are tolerated (RFC 8200 §4.5); a lone piece is the datagram itself.
            int duplicates = random.Next(0, 4);
            for (int i = 0; i < duplicates; i++)
            {
                order.Add(order[random.Next(order.Count)]);
            }
        }
        Frag.Shuffle(random, order);
        using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
        List<byte[]> done = Frag.Feed(r, pool, order);
        Assert.NotEmpty(done);
        Assert.All(done, d => Assert.Equal(bytes, d));
        Assert.Equal(0, r.Drops.Total - r.Drops[ReassemblyDropReason.Duplicate]);
    });

    [Property(MaxTest = 200)]
    public Property Rfc5722_OnceTwoFragmentsOverlap_NothingCompletes() => Prop.ForAll(Arb.From(Cases), c =>
    {
        using var pool = new LeakCheckedPool();
        var random = new Random(c.Seed);
        c = c with { PayloadLength = Math.Max(c.PayloadLength, 24), MaxPieces = Math.Max(c.MaxPieces, 2) };
        var (bytes, headerLength, fragment, minFirst) = c.Build();
        int total = bytes.Length - headerLength;
        Cut[] cuts = Split(random, total, c.MaxPieces, minFirst);
        if (cuts.Length < 2)
        {
            cuts = [new Cut(0, 16, true), new Cut(16, total - 16, false)];
        }

        // A valid fragment of the same datagram (same bytes, even) whose range is not one of the cuts: it
        // overlaps at least one of them.
        Cut overlap;
        do
        {
            int units = (total + 7) / 8;
            int start = random.Next(0, units) * 8;
            int end = Math.Min(total, start + random.Next(1, units + 1) * 8);
            if (start == 0 && end < minFirst)
            {
                end = Math.Min(total, minFirst);
            }
            overlap = new Cut(start, end - start, end < total);
        }
        // [0, total) with M clear is not a fragment at all but the whole datagram (RFC 791; RFC 6946 atomic).
        while (overlap.Length <= 0 || cuts.Contains(overlap) || (overlap.Offset == 0 && !overlap.More));

        var order = cuts.ToList();
        Frag.Shuffle(random, order);
        order.Insert(random.Next(0, order.Count + 1), overlap);

        // The first arrival at which two overlapping fragments have both been seen. The overlapping fragment
        // can itself complete a valid set that arrived before it (its bytes are the datagram's): that is a
        // correct completion. What must never happen is a completion once an overlap was seen (RFC 5722 §4).
        int overlapSeenAt = order.Count;
        for (int i = 1; i < order.Count && overlapSeenAt == order.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (order[j] != order[i] && order[j].Offset < order[i].End && order[i].Offset < order[j].End)
                {
                    overlapSeenAt = i;
                    break;
                }
            }
        }
        using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
        var completedAt = new List<int>();
        for (int i = 0; i < order.Count; i++)
        {
            ReassemblyResult result = r.Process(pool.Pool.RentCopy(fragment(order[i])));
            if (result.Packet is { } packet)
            {
                completedAt.Add(i);
                Assert.Equal(bytes, packet.ToArray());
                packet.Release();
            }
        }
        Assert.True(overlapSeenAt < order.Count);
        Assert.All(completedAt, i => Assert.True(i < overlapSeenAt, $"completed at {i}, overlap seen at {overlapSeenAt}"));
        if (completedAt.Count == 0)
        {
            Assert.True(r.Drops[ReassemblyDropReason.Overlap] + r.Drops[ReassemblyDropReason.Inconsistent] > 0);
        }
    });

    [Property(MaxTest = 300)]
    public Property AnyBytes_NeverThrow_NorLeak() => Prop.ForAll(
        Arb.From(from version in Gen.Elements(4, 6)
                 from length in Gen.Choose(0, 120)
                 from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), length)
                 select (version, bytes)),
        input =>
        {
            using var pool = new LeakCheckedPool();
            byte[] bytes = input.bytes;
            if (bytes.Length > 0)
            {
                bytes[0] = (byte)((input.version << 4) | (bytes[0] & 0x0F));
            }
            using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
            ReassemblyResult result = r.Process(pool.Pool.RentCopy(bytes));
            result.Packet?.Release();
        });

    [Fact]
    public void Flood_OfRandomFragments_StaysWithinTheMemoryBound_AndLeavesNoLeakAfterExpiry()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions { DebugTracking = false });
        var time = new FakeTimeProvider(Frag.Start);
        var options = new ReassemblyOptions { MaxBytes = 512 * 1024, MaxDatagrams = 128, MaxFragmentsPerDatagram = 64 };
        using var r = new FragmentReassembler(time, options);
        var random = new Random(12345);
        byte[] v4 = Frag.Ipv4Datagram(2048);
        Ipv6Datagram v6 = Frag.Ipv6Datagram(2048, hopByHop: true);
        var buffer = new byte[2200];
        int completed = 0;
        long maxHeld = 0;
        for (int i = 0; i < 100_000; i++)
        {
            bool isV6 = random.Next(2) == 0;
            int offset = random.Next(0, 256) * 8;
            bool more = random.Next(4) != 0;
            int length = more ? random.Next(1, 32) * 8 : random.Next(1, 256);
            length = Math.Min(length, 2056 - offset);
            if (length <= 0)
            {
                continue;
            }
            byte[] fragment = isV6
                ? Frag.Ipv6Fragment(v6, offset, length, more, (uint)random.Next(0, 512))
                : Frag.Ipv4Fragment(v4, offset, length, more);
            if (!isV6)
            {
                Ipv4Header.SetIdentification(fragment, (ushort)random.Next(0, 512));
                BinaryPrimitives.WriteUInt32BigEndian(fragment.AsSpan(12), (uint)random.Next(0, 4)); // a few sources
            }
            fragment.CopyTo(buffer, 0);
            ReassemblyResult result = r.Process(pool.Pool.RentCopy(buffer.AsSpan(0, fragment.Length)));
            if (result.Packet is { } packet)
            {
                completed++;
                packet.Release();
            }
            maxHeld = Math.Max(maxHeld, r.BytesHeld);
            Assert.True(r.BytesHeld <= options.MaxBytes);
            Assert.True(r.DatagramsInFlight <= options.MaxDatagrams);
            if ((i & 1023) == 0)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }
        }
        Assert.True(maxHeld > options.MaxBytes / 2, $"the flood should have pushed against the limit (max {maxHeld})");
        Assert.True(r.Drops[ReassemblyDropReason.Evicted] > 0);

        time.Advance(TimeSpan.FromSeconds(61));
        r.ExpireDue();
        Assert.Equal(0, r.DatagramsInFlight);
        Assert.Equal(0, r.FragmentsHeld);
        Assert.Equal(0, r.BytesHeld);
        pool.AssertNoLeaks();
    }

    [Fact]
    public void TinyFragments_EightBytesEach_ReassembleUpToTheSegmentLimit()
    {
        using var pool = new LeakCheckedPool();
        using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
        Ipv6Datagram d = Frag.Ipv6Datagram(128 * 8 - 8);
        Cut[] cuts = Frag.Cuts(d.FragmentableLength, Enumerable.Repeat(8, 128).ToArray());
        Assert.Equal(128, cuts.Length);
        var order = cuts.Select(c => Frag.Ipv6Fragment(d, c)).ToList();
        Frag.Shuffle(new Random(3), order);
        List<byte[]> done = Frag.Feed(r, pool, order);
        Assert.Equal(d.Bytes, Assert.Single(done));
    }

    [Fact]
    public void EndlessFlows_OfTinyFragmentsThatNeverComplete_StayBounded()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions { DebugTracking = false });
        var time = new FakeTimeProvider(Frag.Start);
        var options = new ReassemblyOptions { MaxBytes = 256 * 1024, MaxDatagrams = 16, MaxFragmentsPerDatagram = 32 };
        using var r = new FragmentReassembler(time, options);
        byte[] v4 = Frag.Ipv4Datagram(65000);
        Ipv6Datagram v6 = Frag.Ipv6Datagram(65000);
        for (int i = 0; i < 20_000; i++)
        {
            // Eight flows, each an endless datagram of 8-byte fragments that never sends offset 0 or the end.
            int flow = i % 8;
            int offset = 8 + (i / 8) % 8000 * 8;
            byte[] fragment = flow < 4
                ? Frag.Ipv4Fragment(v4, offset, 8, true)
                : Frag.Ipv6Fragment(v6, offset, 8, true, (uint)flow);
            if (flow < 4)
            {
                Ipv4Header.SetIdentification(fragment, (ushort)flow);
            }
            Assert.NotEqual(ReassemblyStatus.Completed, r.Process(pool.Pool.RentCopy(fragment)).Status);
            Assert.True(r.BytesHeld <= options.MaxBytes);
            Assert.True(r.FragmentsHeld <= options.MaxDatagrams * options.MaxFragmentsPerDatagram);
            if (i % 100 == 0)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }
        }
        Assert.True(r.Drops[ReassemblyDropReason.TooManyFragments] > 0);
        time.Advance(TimeSpan.FromSeconds(61));
        r.ExpireDue();
        Assert.Equal(0, r.BytesHeld);
        pool.AssertNoLeaks();
    }
}
