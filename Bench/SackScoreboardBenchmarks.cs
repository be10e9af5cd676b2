// Per-ACK cost of the SACK scoreboard at 100 and at 80,000 records (issue 14 item 4: within 4x), the tree
// (SackScoreboard) against the sorted array it replaced (ArraySackScoreboard, linked from Tests) in the same run.
// One ACK is ScoreboardWorkload.Ack: a SACK edge that splits a record, a loss mark and its retransmission, RACK's
// query, new data and cumulative ACKs back to the same record count, at scattered places.
// Run: dotnet run -c Release --project Bench -- --filter '*SackScoreboard*'
using BenchmarkDotNet.Attributes;
using NetStack.Tcp;
using NetStack.Tests.Stack.Tcp;

namespace NetStack.Bench;

/// <summary>One ACK's scoreboard work, tree against array, by records held.</summary>
[InProcess]
[MemoryDiagnoser]
public class SackScoreboardBenchmarks
{
    private ScoreboardWorkload<SackScoreboard, TreeScoreboard> _tree = null!;
    private ScoreboardWorkload<ArraySackScoreboard, ArrayScoreboard> _array = null!;

    /// <summary>Records held after each ACK.</summary>
    [Params(100, 80_000)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tree = new(Records);
        _array = new(Records);
        for (int i = 0; i < 1000; i++)
        {
            _tree.Ack(); // into the steady state: records split and retransmitted all over the board
            _array.Ack();
        }
    }

    [Benchmark(Baseline = true)]
    public void Array() => _array.Ack();

    [Benchmark]
    public void Tree() => _tree.Ack();
}
