// PacketQueue and PipeLink: order, drops, back-pressure, pumping step by step and live, GSO split or pass-through,
// and no allocation per packet.
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Simulation;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Simulation;

public class PipeLinkTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static void Send(IPacketSink sink, PacketBufferPool pool, int count, int first = 0)
    {
        for (int i = first; i < first + count; i++)
        {
            sink.Enqueue(pool.RentCopy(TestPackets.Numbered(i)));
        }
        sink.Flush();
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the pipe");
            await Task.Delay(5);
        }
    }

    [Fact]
    public void PacketQueue_KeepsOrder_DropsWhenFull_AndCounts()
    {
        using var pool = new LeakCheckedPool();
        using var queue = new PacketQueue(capacity: 4);
        Send(queue, pool, 6);
        Assert.Equal(4, queue.Count);
        Assert.Equal(4, queue.Enqueued);
        Assert.Equal(2, queue.DroppedFull);
        Assert.Equal(1, queue.Flushes);
        var batch = new PacketBuffer[3];
        Assert.Equal(3, queue.ReadBatch(batch));
        Assert.Equal(new[] { 0, 1, 2 }, batch.Select(p => TestPackets.IndexOf(p.ToArray())));
        foreach (var p in batch)
        {
            p.Release();
        }
        Assert.True(queue.TryDequeue(out var last));
        Assert.Equal(3, TestPackets.IndexOf(last.ToArray()));
        last.Release();
        Assert.False(queue.TryDequeue(out _));
        Assert.Equal(4, queue.Dequeued);
    }

    [Fact]
    public async Task PacketQueue_Complete_DrainsThenEnds_AndDisposeReleasesTheRest()
    {
        using var pool = new LeakCheckedPool();
        var queue = new PacketQueue(capacity: 8);
        Send(queue, pool, 3);
        queue.Complete();
        Send(queue, pool, 1);
        Assert.Equal(1, queue.DroppedClosed);
        Assert.True(await queue.WaitToReadAsync(CancellationToken.None));
        Assert.True(queue.TryDequeue(out var p));
        p.Release();
        queue.Dispose();
        Assert.Equal(3, queue.DroppedClosed);
        Assert.False(await queue.WaitToReadAsync(CancellationToken.None));
    }

    [Fact]
    public void PumpOnce_MovesBothDirections_AndFlushesTheSinks()
    {
        using var pool = new LeakCheckedPool();
        using var aOut = new PacketQueue();
        using var bOut = new PacketQueue();
        var aIn = new CollectingSink();
        var bIn = new CollectingSink();
        using var link = new PipeLink(aOut, bIn, bOut, aIn);
        Send(aOut, pool, 5);
        Send(bOut, pool, 3, first: 100);
        Assert.Equal(8, link.PumpOnce());
        Assert.Equal(Enumerable.Range(0, 5), bIn.Indexes());
        Assert.Equal(Enumerable.Range(100, 3), aIn.Indexes());
        Assert.Equal(1, bIn.Flushes);
        Assert.Equal(1, aIn.Flushes);
        Assert.Equal(0, link.PumpOnce());
        Assert.Equal(5, link.AToB.PacketsRead);
        Assert.Equal(3, link.BToA!.PacketsRead);
    }

    [Fact]
    public void PumpOnce_MovesMoreThanOneBatch()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        using var aOut = new PacketQueue(capacity: 2000);
        var bIn = new CollectingSink();
        using var link = new PipeLink(aOut, bIn, new PipeLinkOptions { BatchSize = 16, MaxBatchesPerPump = 4 });
        Send(aOut, pool, 100);
        Assert.Equal(64, link.PumpOnce());
        Assert.Equal(36, link.PumpOnce());
        Assert.Equal(Enumerable.Range(0, 100), bIn.Indexes());
    }

    [Fact]
    public void PumpOnce_WithDelay_DeliversOnlyWhenTheFakeClockSaysSo()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        using var aOut = new PacketQueue();
        using var bOut = new PacketQueue();
        var aIn = new CollectingSink(time);
        var bIn = new CollectingSink(time);
        var options = new PipeLinkOptions
        {
            AToB = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(30) },
            BToA = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) },
            TimeProvider = time,
        };
        using var link = new PipeLink(aOut, bIn, bOut, aIn, options);
        Send(aOut, pool, 2);
        Send(bOut, pool, 2, first: 10);
        Assert.Equal(4, link.PumpOnce());
        Assert.Equal(4, link.InFlight);
        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(2, link.PumpOnce());
        Assert.Equal(new[] { 10, 11 }, aIn.Indexes());
        Assert.Empty(bIn.Packets);
        time.Advance(TimeSpan.FromMilliseconds(19));
        Assert.Equal(0, link.PumpOnce());
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, link.PumpOnce());
        Assert.Equal(new[] { 0, 1 }, bIn.Indexes());
        Assert.All(bIn.Packets, r => Assert.Equal(Start.AddMilliseconds(30), r.At));
        Assert.Equal(0, link.InFlight);
    }

    [Fact]
    public void DeterministicDriver_SameSeedReplaysBitForBit_DifferentSeedDiffers()
    {
        var a = Simulate(seed: 9);
        var b = Simulate(seed: 9);
        var c = Simulate(seed: 10);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    private static List<string> Simulate(int seed)
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        var time = new FakeTimeProvider(Start);
        using var aOut = new PacketQueue();
        using var bOut = new PacketQueue();
        var aIn = new CollectingSink(time);
        var bIn = new CollectingSink(time);
        var impairment = new ImpairmentOptions
        {
            LossPercent = 10,
            DuplicatePercent = 5,
            CorruptPercent = 5,
            ReorderPercent = 10,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(3),
            Delay = TimeSpan.FromMilliseconds(5),
            Jitter = TimeSpan.FromMilliseconds(1),
            RateBitsPerSecond = 50_000_000,
        };
        using var link = new PipeLink(aOut, bIn, bOut, aIn, new PipeLinkOptions { AToB = impairment, BToA = impairment, Seed = seed, TimeProvider = time });
        for (int step = 0; step < 300; step++)
        {
            Send(aOut, pool, 2, first: step * 2);
            Send(bOut, pool, 1, first: 100_000 + step);
            link.PumpOnce();
            time.Advance(TimeSpan.FromMilliseconds(0.5));
        }
        time.Advance(TimeSpan.FromSeconds(1));
        link.PumpOnce();
        Assert.Equal(0, link.InFlight);
        return aIn.Packets.Concat(bIn.Packets)
            .Select(r => $"{r.At.UtcTicks}:{Convert.ToHexString(r.Bytes)}")
            .ToList();
    }

    [Fact]
    public async Task RunAsync_PumpsInTheBackground_AndStopsCleanly()
    {
        using var pool = new LeakCheckedPool();
        using var aOut = new PacketQueue();
        using var bOut = new PacketQueue();
        var aIn = new CollectingSink();
        var bIn = new CollectingSink();
        using var link = new PipeLink(aOut, bIn, bOut, aIn);
        using var cts = new CancellationTokenSource();
        Task run = link.RunAsync(cts.Token);
        Send(aOut, pool, 10);
        await WaitUntil(() => bIn.Count == 10);
        Send(bOut, pool, 5, first: 50);
        await WaitUntil(() => aIn.Count == 5);
        Assert.Equal(Enumerable.Range(0, 10), bIn.Indexes());
        Assert.Equal(Enumerable.Range(50, 5), aIn.Indexes());
        Assert.Throws<InvalidOperationException>(() => link.PumpOnce());
        await cts.CancelAsync();
        await run.WaitAsync(Patience);
        Assert.True(run.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task RunAsync_Stop_ReleasesEveryPacketInFlight()
    {
        using var pool = new LeakCheckedPool();
        using var aOut = new PacketQueue();
        var bIn = new CollectingSink();
        var options = new PipeLinkOptions { AToB = new ImpairmentOptions { Delay = TimeSpan.FromHours(1) } };
        using var link = new PipeLink(aOut, bIn, options);
        using var cts = new CancellationTokenSource();
        Task run = link.RunAsync(cts.Token);
        Send(aOut, pool, 7);
        await WaitUntil(() => link.InFlight == 7);
        Assert.True(pool.Pool.LiveBuffers > 0);
        await cts.CancelAsync();
        await run.WaitAsync(Patience);
        Assert.Empty(bIn.Packets);
        Assert.Equal(0, link.InFlight);
        Assert.Equal(7, link.AToB.Impairment!.Discarded);
        pool.AssertNoLeaks();
    }

    [Fact]
    public async Task RunAsync_WaitsOnTheFakeClock_ForDelayedPackets()
    {
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        using var aOut = new PacketQueue();
        var bIn = new CollectingSink(time);
        var options = new PipeLinkOptions { AToB = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(100) }, TimeProvider = time };
        using var link = new PipeLink(aOut, bIn, options);
        using var cts = new CancellationTokenSource();
        Task run = link.RunAsync(cts.Token);
        Send(aOut, pool, 3);
        await WaitUntil(() => link.InFlight == 3);
        time.Advance(TimeSpan.FromMilliseconds(99));
        await Task.Delay(50);
        Assert.Empty(bIn.Packets);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitUntil(() => bIn.Count == 3);
        Assert.All(bIn.Packets, r => Assert.Equal(Start.AddMilliseconds(100), r.At));
        await cts.CancelAsync();
        await run.WaitAsync(Patience);
    }

    [Fact]
    public async Task RunAsync_EndsWhenEverySourceIsClosedAndDrained()
    {
        using var pool = new LeakCheckedPool();
        using var aOut = new PacketQueue();
        using var bOut = new PacketQueue();
        var aIn = new CollectingSink();
        var bIn = new CollectingSink();
        using var link = new PipeLink(aOut, bIn, bOut, aIn);
        Task run = link.RunAsync(CancellationToken.None);
        Send(aOut, pool, 4);
        aOut.Complete();
        Send(bOut, pool, 2, first: 10);
        bOut.Complete();
        await run.WaitAsync(Patience);
        Assert.Equal(4, bIn.Count);
        Assert.Equal(2, aIn.Count);
    }

    [Fact]
    public void SinkThatThrows_CostsThatPacket_ThePumpGoesOn()
    {
        using var pool = new LeakCheckedPool();
        using var aOut = new PacketQueue();
        var sink = new ThrowingSink(throwOn: 2);
        using var link = new PipeLink(aOut, sink);
        Send(aOut, pool, 5);
        Assert.Equal(5, link.PumpOnce());
        Assert.Equal(4, sink.Accepted); // the third one threw; the two after it went on
        Assert.Equal(1, link.AToB.Faults);
        Send(aOut, pool, 1, first: 10);
        Assert.Equal(1, link.PumpOnce());
        Assert.Equal(5, sink.Accepted);
    }

    /// <summary>Takes every packet (releasing it) and throws on call number <c>throwOn</c> (from 0) only.</summary>
    private sealed class ThrowingSink(int throwOn) : IPacketSink
    {
        private int _calls;

        public int Accepted { get; private set; }

        public void Enqueue(PacketBuffer packet)
        {
            packet.Release();
            if (_calls++ == throwOn)
            {
                throw new InvalidOperationException("sink failed");
            }
            Accepted++;
        }

        public void Flush()
        {
        }
    }
}

public class PipeLinkAllocationTests
{
    private sealed class ReleasingSink : IPacketSink
    {
        public long Count;

        public void Enqueue(PacketBuffer packet)
        {
            Count++;
            packet.Release();
        }

        public void Flush()
        {
        }
    }

    [Fact]
    public void ImpairedPipeLink_DoesNotAllocatePerPacket()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var source = new PacketQueue(capacity: 256);
        var sink = new ReleasingSink();
        var impairment = new ImpairmentOptions
        {
            LossPercent = 10,
            DuplicatePercent = 10,
            CorruptPercent = 10,
            ReorderPercent = 10,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(1),
            Delay = TimeSpan.FromMilliseconds(2),
            Jitter = TimeSpan.FromMilliseconds(1),
            RateBitsPerSecond = 1_000_000_000,
        };
        using var link = new PipeLink(source, sink, new PipeLinkOptions { AToB = impairment, TimeProvider = time, Seed = 3 });
        byte[] bytes = TestPackets.Ipv4Tcp(1, 1000);

        void Run(int rounds)
        {
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < 50; i++)
                {
                    source.Enqueue(pool.Pool.RentCopy(bytes));
                }
                link.PumpOnce();
                time.Advance(TimeSpan.FromMilliseconds(1));
            }
            time.Advance(TimeSpan.FromMilliseconds(10));
            link.PumpOnce();
        }

        Run(100); // warm up: pool, heap and channel reach their working size, code is jitted
        long before = GC.GetAllocatedBytesForCurrentThread();
        long delivered = sink.Count;
        Run(100);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(sink.Count - delivered > 4000);
        // One object per packet would be at least 24 bytes × ~4900; what remains is per pump and per clock step.
        Assert.True(allocated < 20_000, $"{allocated} bytes allocated for {sink.Count - delivered} packets");
    }
}
