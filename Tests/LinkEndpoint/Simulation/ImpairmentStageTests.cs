// ImpairmentStage: each impairment at 0 and 100 %, rates within bounds, delay and rate exact on a fake clock, seeds
// replaying, chains of stages, and every drop counted.
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Simulation;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Simulation;

public class ImpairmentStageTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static void Send(ImpairmentStage stage, PacketBufferPool pool, int count, int first = 0)
    {
        for (int i = first; i < first + count; i++)
        {
            stage.Enqueue(pool.RentCopy(TestPackets.Numbered(i)));
        }
    }

    // Statistical tests rent thousands of buffers: skip the per-rental stack traces, keep the leak check.
    private static LeakCheckedPool FastPool() => new(new PacketBufferPoolOptions());

    public static TheoryData<string> Impairments => ["loss", "duplicate", "corrupt", "reorder"];

    private static ImpairmentOptions WithPercent(string impairment, double percent) => impairment switch
    {
        "loss" => new ImpairmentOptions { LossPercent = percent },
        "duplicate" => new ImpairmentOptions { DuplicatePercent = percent },
        "corrupt" => new ImpairmentOptions { CorruptPercent = percent },
        "reorder" => new ImpairmentOptions { ReorderPercent = percent, ReorderExtraDelay = TimeSpan.FromMilliseconds(5) },
        _ => throw new ArgumentOutOfRangeException(nameof(impairment)),
    };

    [Theory]
    [MemberData(nameof(Impairments))]
    public void ZeroPercent_DeliversEveryPacketUnchangedAndInOrder(string impairment)
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        using var stage = new ImpairmentStage(sink, WithPercent(impairment, 0), seed: 1, time);
        Send(stage, pool, 200);
        stage.Flush();
        Assert.Equal(Enumerable.Range(0, 200), sink.Indexes());
        Assert.All(sink.Packets, r => Assert.Equal(TestPackets.Numbered(TestPackets.IndexOf(r.Bytes)), r.Bytes));
        Assert.Equal(0, stage.Dropped);
        Assert.Equal(200, stage.Delivered);
        Assert.Equal(0, stage.HeldCount);
    }

    [Fact]
    public void Chain_TwoDelayStages_OuterReportsTheEarliestDue_AndDeliversThroughBoth()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var inner = new ImpairmentStage(sink, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) }, seed: 1, time);
        using var outer = new ImpairmentStage(inner, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(30) }, seed: 2, time);
        Send(outer, pool, 1);
        inner.Enqueue(pool.Pool.RentCopy(TestPackets.Numbered(1))); // held behind the outer stage
        Assert.Equal(TimeSpan.FromMilliseconds(10), outer.TimeUntilNextDue);

        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, outer.DeliverDue()); // the inner stage's packet, reached through the outer one
        Assert.Equal([1], sink.Indexes());
        Assert.Equal(TimeSpan.FromMilliseconds(20), outer.TimeUntilNextDue);

        time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, outer.DeliverDue()); // to the inner stage, which holds it 10 ms more
        Assert.Equal(TimeSpan.FromMilliseconds(10), outer.TimeUntilNextDue);
        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, outer.DeliverDue());
        Assert.Equal([1, 0], sink.Indexes());
        Assert.Null(outer.TimeUntilNextDue);
    }

    [Fact]
    public void Dispose_ReleasesWhatEveryStageOfTheChainHolds()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var inner = new ImpairmentStage(sink, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) }, seed: 1, time);
        var outer = new ImpairmentStage(inner, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(30) }, seed: 2, time);
        Send(outer, pool, 3);
        inner.Enqueue(pool.Pool.RentCopy(TestPackets.Numbered(9)));
        outer.Dispose();
        Assert.Equal(3, outer.Discarded);
        Assert.Equal(1, inner.Discarded);
        Assert.Empty(sink.Packets);
    }

    [Fact]
    public void Loss100_DropsEverything_CountedAsLoss()
    {
        using var pool = new LeakCheckedPool();
        var sink = new CollectingSink();
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { LossPercent = 100 }, seed: 1);
        Send(stage, pool, 50);
        stage.Flush();
        Assert.Empty(sink.Packets);
        Assert.Equal(50, stage.DroppedLoss);
        Assert.Equal(50, stage.GetDropCount(ImpairmentDropReason.Loss));
        Assert.Equal(0, stage.GetDropCount(ImpairmentDropReason.QueueFull));
        Assert.Equal(50, stage.Received);
    }

    [Fact]
    public void Duplicate100_DeliversEveryPacketTwice_AsSeparateBuffers()
    {
        using var pool = new LeakCheckedPool();
        var sink = new CollectingSink();
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { DuplicatePercent = 100 }, seed: 1);
        Send(stage, pool, 20);
        stage.Flush();
        Assert.Equal(Enumerable.Range(0, 20).SelectMany(i => new[] { i, i }), sink.Indexes());
        for (int i = 0; i < 40; i += 2)
        {
            Assert.Equal(sink.Packets[i].Bytes, sink.Packets[i + 1].Bytes);
            Assert.NotSame(sink.Packets[i].Packet, sink.Packets[i + 1].Packet);
        }
        Assert.Equal(20, stage.Duplicated);
        Assert.Equal(40, stage.Delivered);
    }

    [Fact]
    public void Corrupt100_FlipsExactlyOneBit_OfACopy_NeverTheSharedOriginal()
    {
        using var pool = new LeakCheckedPool();
        var sink = new CollectingSink();
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { CorruptPercent = 100 }, seed: 7);
        byte[] bytes = TestPackets.Ipv4Tcp(1, 600);
        for (int round = 0; round < 30; round++)
        {
            using PacketBuffer original = TestPackets.Fragmented(pool, bytes, 40, 300);
            original.RxChecksumValidated = true;
            stage.Enqueue(original.AddRef()); // someone else (this test) still references the original
            stage.Flush();
            Assert.Equal(bytes, original.ToArray());
            Assert.Equal(1, original.ReferenceCount);
        }
        Assert.Equal(30, sink.Packets.Count);
        Assert.All(sink.Packets, r =>
        {
            Assert.Equal(1, HammingDistance(bytes, r.Bytes));
            Assert.False(r.RxChecksumValidated);
        });
        Assert.Equal(30, stage.Corrupted);
        // Different rounds flip different bits.
        Assert.True(sink.Packets.Select(r => Convert.ToHexString(r.Bytes)).Distinct().Count() > 20);
    }

    [Fact]
    public void Corruption_IsCaughtByTheChecksums_ExceptInIpv6FieldsNoChecksumCovers()
    {
        using var pool = FastPool();
        var sink = new CollectingSink();
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { CorruptPercent = 100 }, seed: 3);
        byte[][] originals = [TestPackets.Ipv4Tcp(9, 300), TestPackets.Ipv6Tcp(9, 300), TestPackets.Ipv6Udp(100), TestPackets.Ipv4Udp(77)];
        Assert.All(originals, o => Assert.True(TestPackets.ChecksumsValid(o)));
        for (int i = 0; i < 2000; i++)
        {
            stage.Enqueue(pool.Pool.RentCopy(originals[i % originals.Length]));
        }
        stage.Flush();
        Assert.Equal(2000, sink.Packets.Count);
        int uncovered = 0;
        for (int i = 0; i < sink.Packets.Count; i++)
        {
            byte[] original = originals[i % originals.Length];
            byte[] corrupted = sink.Packets[i].Bytes;
            int offset = Enumerable.Range(0, original.Length).Single(k => original[k] != corrupted[k]);
            int mask = original[offset] ^ corrupted[offset];
            // IPv6 has no header checksum: traffic class, flow label and hop limit are covered by nothing.
            bool isUncovered = (original[0] >> 4) == 6 && ((offset == 0 && mask <= 0x08) || offset is 1 or 2 or 3 or 7);
            uncovered += isUncovered ? 1 : 0;
            Assert.True(TestPackets.ChecksumsValid(corrupted) == isUncovered, $"packet {i}: flip at {offset} mask {mask:x2}");
        }
        Assert.InRange(uncovered, 1, 100);
    }

    [Theory]
    [MemberData(nameof(Impairments))]
    public void TenPercent_RateIsWithinTolerance(string impairment)
    {
        const int N = 5000;
        using var pool = FastPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        using var stage = new ImpairmentStage(sink, WithPercent(impairment, 10) with { QueueLimit = 2 * N }, seed: 12345, time);
        Send(stage, pool, N);
        time.Advance(TimeSpan.FromSeconds(1));
        stage.Flush();
        long observed = impairment switch
        {
            "loss" => stage.DroppedLoss,
            "duplicate" => stage.Duplicated,
            "corrupt" => stage.Corrupted,
            _ => stage.Reordered,
        };
        // Binomial(5000, 0.1): mean 500, sigma 21.2; allow 4 sigma.
        Assert.InRange(observed, 415, 585);
        Assert.Equal(N - stage.DroppedLoss + stage.Duplicated, sink.Packets.Count);
        if (impairment == "corrupt")
        {
            // IPv4 UDP with a checksum: every single-bit flip is caught.
            Assert.Equal(observed, sink.Packets.Count(r => !TestPackets.ChecksumsValid(r.Bytes)));
        }
    }

    [Fact]
    public void Reordering_DeliversLaterPacketsFirst_AndLosesNothing()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var options = new ImpairmentOptions { ReorderPercent = 25, ReorderExtraDelay = TimeSpan.FromMilliseconds(3) };
        using var stage = new ImpairmentStage(sink, options, seed: 5, time);
        for (int i = 0; i < 100; i++)
        {
            stage.Enqueue(pool.Pool.RentCopy(TestPackets.Numbered(i)));
            stage.Flush();
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        time.Advance(TimeSpan.FromMilliseconds(10));
        stage.Flush();
        List<int> order = sink.Indexes();
        Assert.Equal(Enumerable.Range(0, 100), order.Order());
        Assert.NotEqual(Enumerable.Range(0, 100), order);
        int inversions = order.Zip(order.Skip(1)).Count(p => p.First > p.Second);
        Assert.True(inversions >= 10, $"only {inversions} inversions");
        Assert.True(stage.Reordered >= 10);
        // Each held packet is overtaken by at most the packets sent within its extra delay.
        for (int pos = 0; pos < order.Count; pos++)
        {
            Assert.InRange(pos - order[pos], -3, 3);
        }
    }

    [Fact]
    public void Delay_NothingArrivesBeforeItsTime_EverythingAfter()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(50) }, seed: 1, time);
        Send(stage, pool, 10);
        stage.Flush();
        Assert.Empty(sink.Packets);
        Assert.Equal(10, stage.HeldCount);
        Assert.Equal(TimeSpan.FromMilliseconds(50), stage.TimeUntilNextDue);

        time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.Equal(0, stage.DeliverDue());
        Assert.Equal(TimeSpan.FromMilliseconds(1), stage.TimeUntilNextDue);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(10, stage.DeliverDue());
        Assert.Equal(Enumerable.Range(0, 10), sink.Indexes());
        Assert.All(sink.Packets, r => Assert.Equal(Start + TimeSpan.FromMilliseconds(50), r.At));
        Assert.Null(stage.TimeUntilNextDue);
        Assert.True(sink.Flushes >= 1);
    }

    [Fact]
    public void Jitter_KeepsEachDelayWithinBounds_AndVaries()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var options = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(20), Jitter = TimeSpan.FromMilliseconds(10) };
        using var stage = new ImpairmentStage(sink, options, seed: 2, time);
        var sentAt = new Dictionary<int, DateTimeOffset>();
        for (int i = 0; i < 200; i++)
        {
            sentAt[i] = time.GetUtcNow();
            stage.Enqueue(pool.Pool.RentCopy(TestPackets.Numbered(i)));
            for (int step = 0; step < 4; step++)
            {
                time.Advance(TimeSpan.FromMilliseconds(0.25));
                stage.DeliverDue();
            }
        }
        for (int step = 0; step < 200; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(0.25));
            stage.DeliverDue();
        }
        Assert.Equal(200, sink.Packets.Count);
        var delays = sink.Packets.Select(r => (r.At - sentAt[TestPackets.IndexOf(r.Bytes)]).TotalMilliseconds).ToList();
        Assert.All(delays, d => Assert.InRange(d, 10, 30.25)); // delivery is observed at 0.25 ms steps
        Assert.True(delays.Max() - delays.Min() > 15);
    }

    [Fact]
    public void RateLimit_SpacesPacketsByTheirTransmissionTime()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        // 1 Mbit/s: a 1250-byte packet takes exactly 10 ms.
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { RateBitsPerSecond = 1_000_000 }, seed: 1, time);
        byte[] packet = TestPackets.Ipv4Udp(1250 - 28);
        Assert.Equal(1250, packet.Length);
        for (int i = 0; i < 5; i++)
        {
            stage.Enqueue(pool.Pool.RentCopy(packet));
        }
        for (int ms = 0; ms <= 60; ms++)
        {
            stage.DeliverDue();
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        Assert.Equal(
            new[] { 10, 20, 30, 40, 50 },
            sink.Packets.Select(r => (int)(r.At - Start).TotalMilliseconds));
    }

    [Fact]
    public void RateLimit_ThroughputMatchesTheRate_OverASustainedRun()
    {
        using var pool = FastPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var options = new ImpairmentOptions { RateBitsPerSecond = 8_000_000, QueueLimit = 100 };
        using var stage = new ImpairmentStage(sink, options, seed: 1, time);
        byte[] packet = TestPackets.Ipv4Udp(972); // 1000 bytes: 1 ms at 8 Mbit/s
        long offeredBytes = 0;
        for (int ms = 0; ms < 1000; ms++)
        {
            // Offer twice the rate: half must be tail-dropped.
            stage.Enqueue(pool.Pool.RentCopy(packet));
            stage.Enqueue(pool.Pool.RentCopy(packet));
            offeredBytes += 2000;
            time.Advance(TimeSpan.FromMilliseconds(1));
            stage.DeliverDue();
        }
        long deliveredBits = sink.Packets.Sum(r => (long)r.Bytes.Length) * 8;
        Assert.InRange(deliveredBits, 7_900_000, 8_000_000);
        Assert.True(stage.DroppedQueueFull > 800);
        Assert.Equal(2000, sink.Packets.Count + stage.DroppedQueueFull + stage.HeldCount);
    }

    [Fact]
    public void QueueLimit_TailDropsAndCounts()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var options = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5), QueueLimit = 3 };
        using var stage = new ImpairmentStage(sink, options, seed: 1, time);
        Send(stage, pool, 5);
        Assert.Equal(2, stage.DroppedQueueFull);
        Assert.Equal(3, stage.HeldCount);
        time.Advance(TimeSpan.FromMilliseconds(5));
        stage.Flush();
        Assert.Equal(new[] { 0, 1, 2 }, sink.Indexes());
    }

    [Fact]
    public void ClearAndDispose_ReleaseHeldPackets_AndLaterPacketsAreDiscarded()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var stage = new ImpairmentStage(sink, new ImpairmentOptions { Delay = TimeSpan.FromSeconds(1) }, seed: 1, time);
        Send(stage, pool, 4);
        stage.Clear();
        Assert.Equal(4, stage.Discarded);
        Send(stage, pool, 3);
        stage.Dispose();
        Assert.Equal(7, stage.Discarded);
        Send(stage, pool, 2);
        Assert.Equal(9, stage.Discarded);
        Assert.Equal(9, stage.Dropped);
        time.Advance(TimeSpan.FromSeconds(2));
        stage.Flush();
        Assert.Empty(sink.Packets);
    }

    [Fact]
    public void SameSeed_GivesTheSameDeliveredSequence_BitForBit_DifferentSeedsDiffer()
    {
        var a = RunMixed(seed: 42);
        var b = RunMixed(seed: 42);
        var c = RunMixed(seed: 43);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].At, b[i].At);
            Assert.Equal(a[i].Bytes, b[i].Bytes);
        }
        Assert.False(a.Count == c.Count && a.Zip(c).All(p => p.First.At == p.Second.At && p.First.Bytes.AsSpan().SequenceEqual(p.Second.Bytes)));
    }

    private static List<CollectingSink.Received> RunMixed(int seed)
    {
        using var pool = FastPool();
        var time = new FakeTimeProvider(Start);
        var sink = new CollectingSink(time);
        var options = new ImpairmentOptions
        {
            LossPercent = 5,
            DuplicatePercent = 5,
            CorruptPercent = 5,
            ReorderPercent = 10,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(4),
            Delay = TimeSpan.FromMilliseconds(10),
            Jitter = TimeSpan.FromMilliseconds(2),
            RateBitsPerSecond = 10_000_000,
            QueueLimit = 50,
        };
        using var stage = new ImpairmentStage(sink, options, seed, time);
        for (int i = 0; i < 1000; i++)
        {
            stage.Enqueue(pool.Pool.RentCopy(TestPackets.Numbered(i, payloadLength: 64 + (i % 7 * 100))));
            if (i % 3 == 0)
            {
                time.Advance(TimeSpan.FromMicroseconds(700));
                stage.Flush();
            }
        }
        time.Advance(TimeSpan.FromSeconds(1));
        stage.Flush();
        Assert.True(stage.DroppedLoss > 0 && stage.Duplicated > 0 && stage.Corrupted > 0 && stage.Reordered > 0);
        return sink.Packets;
    }

    [Fact]
    public void Metrics_ReportDropsPerReason()
    {
        using var pool = new LeakCheckedPool();
        var measurements = new List<(string Name, long Value, string? Reason, string? Stage)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ImpairmentStage.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? reason = null, stage = null;
            foreach (var t in tags)
            {
                if (t.Key == "reason")
                {
                    reason = t.Value as string;
                }
                else if (t.Key == "stage")
                {
                    stage = t.Value as string;
                }
            }
            measurements.Add((instrument.Name, value, reason, stage));
        });
        listener.Start();
        var sink = new CollectingSink();
        using var stage = new ImpairmentStage(sink, new ImpairmentOptions { LossPercent = 100 }, seed: 1, name: "metrics-test");
        Send(stage, pool, 3);
        listener.RecordObservableInstruments();
        Assert.Contains(("netstack.link.impairment.dropped", 3L, "loss", "metrics-test"), measurements);
        Assert.Contains(("netstack.link.impairment.dropped", 0L, "queue_full", "metrics-test"), measurements);
    }

    [Fact]
    public void Metrics_TwoStages_OneProcessWideMeter_ASeriesEach_AndADisposedStageStopsReporting()
    {
        using var pool = new LeakCheckedPool();
        using var recorder = new MeterRecorder(ImpairmentStage.MeterName);
        string nameA = $"a-{Guid.NewGuid():N}", nameB = $"b-{Guid.NewGuid():N}";
        var a = new ImpairmentStage(new CollectingSink(), new ImpairmentOptions { LossPercent = 100 }, seed: 1, name: nameA);
        using var b = new ImpairmentStage(new CollectingSink(), new ImpairmentOptions { Delay = TimeSpan.FromSeconds(1) }, seed: 1, new FakeTimeProvider(), name: nameB);
        Send(a, pool, 3);
        Send(b, pool, 5);
        var seen = recorder.Observe();
        Assert.Equal(1, recorder.MeterCount); // one static meter, not one per stage
        Assert.Contains(("netstack.link.impairment.dropped", 3L, $"reason=loss,stage={nameA}"), seen);
        Assert.Contains(("netstack.link.impairment.dropped", 0L, $"reason=loss,stage={nameB}"), seen);
        Assert.Contains(("netstack.link.impairment.packets", 3L, $"event=received,stage={nameA}"), seen);
        Assert.Contains(("netstack.link.impairment.packets", 5L, $"event=received,stage={nameB}"), seen);
        Assert.Contains(("netstack.link.impairment.held", 5L, $"stage={nameB}"), seen);
        a.Dispose();
        seen = recorder.Observe();
        Assert.DoesNotContain(seen, m => m.Tags.Contains(nameA, StringComparison.Ordinal));
        Assert.Contains(("netstack.link.impairment.held", 5L, $"stage={nameB}"), seen);
    }

    [Theory]
    [InlineData(-1, 0, 0)]
    [InlineData(101, 0, 0)]
    [InlineData(double.NaN, 0, 0)]
    [InlineData(0, -5, 0)]
    [InlineData(0, 0, 0.5)]
    public void InvalidOptions_AreRejected(double loss, int delayMs, double reorderWithoutDelay)
    {
        var options = new ImpairmentOptions
        {
            LossPercent = loss,
            Delay = TimeSpan.FromMilliseconds(delayMs),
            ReorderPercent = reorderWithoutDelay,
            ReorderExtraDelay = reorderWithoutDelay > 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(1),
        };
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImpairmentStage(new CollectingSink(), options, seed: 1));
    }

    private static int HammingDistance(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        int bits = 0;
        for (int i = 0; i < a.Length; i++)
        {
            bits += System.Numerics.BitOperations.PopCount((uint)(a[i] ^ b[i]));
        }
        return bits;
    }
}
