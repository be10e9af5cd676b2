// The stack-wide TCP memory budget (Linux's tcp_mem): its thresholds and hysteresis, its accounting across a real
// transfer between two stacks on a deterministic network, and that connections still make progress above hard.
using System.Net;
using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

public class TcpMemoryBudgetTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    [Fact]
    public void ForAvailableMemory_8GiB_DerivesThresholdsAsLinuxTcpInitMem()
    {
        TcpMemoryLimits limits = TcpMemoryLimits.ForAvailableMemory(8L << 30);

        // 2,097,152 pages / 16 = 131,072 (pressure); low 3/4 of it; hard twice low.
        Assert.Equal(131072, limits.PressurePages);
        Assert.Equal(98304, limits.LowPages);
        Assert.Equal(196608, limits.HardPages);
    }

    [Fact]
    public void ForAvailableMemory_Tiny_KeepsLinuxFloorOf128Pages()
    {
        TcpMemoryLimits limits = TcpMemoryLimits.ForAvailableMemory(1 << 20);

        Assert.Equal(128, limits.PressurePages);
        Assert.Equal(96, limits.LowPages);
        Assert.Equal(192, limits.HardPages);
    }

    [Fact]
    public void Validate_HardBelowPressure_Throws()
    {
        var limits = new TcpMemoryLimits { LowPages = 1, PressurePages = 4, HardPages = 3 };

        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpMemoryBudget(limits));
    }

    [Fact]
    public void Recharge_CrossingPressure_StaysUnderPressureUntilBelowLow()
    {
        var budget = new TcpMemoryBudget(new TcpMemoryLimits { LowPages = 3, PressurePages = 4, HardPages = 6 });
        long a = 0, b = 0;

        budget.Recharge(ref a, 4 * TcpMemoryLimits.PageSize); // 4 pages: at pressure, not above
        Assert.False(budget.UnderPressure);
        budget.Recharge(ref b, 1); // one byte charges a whole page: 5
        Assert.Equal(5, budget.AllocatedPages);
        Assert.True(budget.UnderPressure);
        Assert.False(budget.AboveHard);

        budget.Recharge(ref a, 3 * TcpMemoryLimits.PageSize); // 4: below pressure, not below low
        Assert.True(budget.UnderPressure);
        budget.Recharge(ref a, 1 * TcpMemoryLimits.PageSize); // 2: below low
        Assert.False(budget.UnderPressure);

        budget.Recharge(ref a, 6 * TcpMemoryLimits.PageSize); // 7: above hard
        Assert.True(budget.AboveHard);
        Assert.True(budget.UnderPressure);
        Assert.Equal(2, budget.PressureEntered);

        budget.Recharge(ref a, 0);
        budget.Recharge(ref b, 0);
        Assert.Equal(0, budget.AllocatedPages);
        Assert.Equal(0, a);
        Assert.False(budget.UnderPressure);
    }

    [Fact]
    public void Transfer_AmpleBudget_SendBufferAutoTunesAndChargeReturnsToZero()
    {
        var options = new TcpProtocolOptions
        {
            Memory = TcpMemoryLimits.ForBytes(1L << 30, 2L << 30),
            Connection = new TcpConnectionOptions { SendBufferSize = 16 * 1024 },
        };
        (int largestBuffer, long peakPages, _, _, _) = Transfer(options, 8L << 20);

        Assert.True(largestBuffer > 16 * 1024, $"the send buffer did not grow: {largestBuffer}");
        Assert.True(peakPages > 0, "nothing was charged while data was queued");
    }

    [Fact]
    public void Transfer_UnderPressure_SendBufferShrinksToFloorAndChargeStaysNearBudget()
    {
        // Pressure at 64 KiB, hard at 128 KiB; the floor (the set size) is 16 KiB.
        var options = new TcpProtocolOptions
        {
            Memory = TcpMemoryLimits.ForBytes(64 * 1024, 128 * 1024),
            Connection = new TcpConnectionOptions { SendBufferSize = 16 * 1024 },
        };
        (int largestBuffer, long peakPages, TcpConnectionStatistics last, bool shrank, long entered) = Transfer(options, 8L << 20);

        Assert.True(entered > 0, "never under pressure");
        Assert.True(shrank, "the send buffer never shrank under pressure");
        Assert.True(largestBuffer < 1024 * 1024, $"the send buffer grew to {largestBuffer} under pressure");
        // The charge overshoots the hard limit by what one round of ACKs lets grow before the next moderation, not more.
        Assert.True(peakPages * TcpMemoryLimits.PageSize < 1024 * 1024, $"peak charge {peakPages} pages");
    }

    [Fact]
    public void Transfer_AboveHardFromTheFirstByte_StillMovesEveryByte()
    {
        // One page is already above hard: no buffer ever grows, every connection keeps its floor and makes progress.
        var options = new TcpProtocolOptions
        {
            Memory = new TcpMemoryLimits { LowPages = 0, PressurePages = 0, HardPages = 0 },
            Connection = new TcpConnectionOptions { SendBufferSize = 8 * 1024, ReceiveBufferSize = 8 * 1024 },
        };
        (int largestBuffer, _, TcpConnectionStatistics last, _, _) = Transfer(options, 2L << 20);

        Assert.Equal(8 * 1024, largestBuffer);
        Assert.Equal(8 * 1024, last.SendBufferSize);
    }

    /// <summary>
    /// Moves <paramref name="size"/> bytes each way between two stacks with <paramref name="options"/>, byte-exact;
    /// returns the client's largest send buffer, the client stack's peak charge, its last statistics, whether its send
    /// buffer ever shrank, and how often the client stack entered pressure; asserts
    /// that both stacks' charges return to zero once the connections are gone.
    /// </summary>
    private static (int LargestBuffer, long PeakPages, TcpConnectionStatistics Last, bool Shrank, long PressureEntered) Transfer(TcpProtocolOptions options, long size)
    {
        var world = new TcpSimulationWorld(null, seed: 5, options: options);
        using (world)
        {
            using TcpConnectionListener listener = world.TcpB.Listen(new IPEndPoint(IPAddress.Any, 80));
            TcpConnection client = world.TcpA.Connect(TcpSimulationWorld.ServerEndPoint);
            TcpConnection? server = null;
            Assert.True(world.Driver.RunUntil(() => client.State == TcpState.Established && (server ??= listener.TryAccept(out var s) ? s : null) is not null, Limit), "handshake");
            var up = new SimulatedFlow(size, 1);
            var down = new SimulatedFlow(size, 2);
            var scratch = new byte[64 * 1024];
            int largest = 0;
            long peak = 0;
            TcpConnectionStatistics last = client.GetStatistics();
            bool shrank = false;
            bool done = world.Driver.RunUntil(() => up.Eof && down.Eof, Limit, idle: () =>
            {
                bool progress = up.Pump(client, server!, scratch) | down.Pump(server!, client, scratch);
                TcpConnectionStatistics now = client.GetStatistics();
                shrank |= now.SendBufferSize < last.SendBufferSize;
                last = now;
                largest = Math.Max(largest, last.SendBufferSize);
                peak = Math.Max(peak, world.TcpA.Memory.AllocatedPages);
                return progress;
            });
            Assert.True(done, $"transfer stalled: up {up.Received}, down {down.Received}\n{world.Describe(client, server)}");
            up.AssertExact();
            down.AssertExact();
            client.Dispose();
            server!.Dispose();
            world.RunUntilAllClosed(TimeSpan.FromMinutes(5));
            Assert.Equal(0, world.TcpA.Memory.AllocatedPages);
            Assert.Equal(0, world.TcpB.Memory.AllocatedPages);
            return (largest, peak, last, shrank, world.TcpA.Memory.PressureEntered);
        }
    }
}
