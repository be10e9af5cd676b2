// Internet checksum throughput: our vectorized Sum (and each vector width forced), the scalar reference,
// PacketDotNet's ones' sum, and Span.CopyTo of the same bytes as the memory-bandwidth yardstick.
// Run: dotnet run -c Release --project Bench -- --filter '*Checksum*'
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using NetStack.Checksums;
using PdnChecksum = PacketDotNet.Utils.ChecksumUtils;

namespace NetStack.Bench;

/// <summary>Checksum of 64 B, 1500 B and 64 KiB buffers, 64-byte aligned (offset 0) or starting at an odd address (offset 1).</summary>
[MemoryDiagnoser]
[Config(typeof(ChecksumBenchmarkConfig))]
public class ChecksumBenchmarks
{
    private byte[] _source = [];
    private byte[] _destination = [];
    private int _start;

    /// <summary>Bytes checksummed (and copied) per operation.</summary>
    [Params(64, 1500, 65536)]
    public int Size { get; set; }

    /// <summary>Start of the data relative to a 64-byte boundary.</summary>
    [Params(0, 1)]
    public int Offset { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Pinned, so the alignment computed here holds for the whole run.
        _source = GC.AllocateArray<byte>(Size + 128, pinned: true);
        _destination = GC.AllocateArray<byte>(Size + 128, pinned: true);
        new Random(42).NextBytes(_source);
        _start = AlignmentPad(_source) + Offset;
    }

    private ReadOnlySpan<byte> Data => _source.AsSpan(_start, Size);

    [Benchmark(Baseline = true, Description = "Span.CopyTo")]
    public void CopyTo() => Data.CopyTo(_destination.AsSpan(_start, Size));

    [Benchmark(Description = "Sum (vectorized)")]
    public uint Sum() => InternetChecksum.Sum(Data);

    [Benchmark(Description = "SumScalar")]
    public uint SumScalar() => InternetChecksum.SumScalar(Data);

    [Benchmark(Description = "PacketDotNet OnesSum")]
    public int PacketDotNet() => PdnChecksum.OnesSum(_source, _start, Size);

    [Benchmark(Description = "Vector512 forced")]
    public uint Width512() => InternetChecksum.SumWithVectorWidth(Data, 512);

    [Benchmark(Description = "Vector256 forced")]
    public uint Width256() => InternetChecksum.SumWithVectorWidth(Data, 256);

    [Benchmark(Description = "Vector128 forced")]
    public uint Width128() => InternetChecksum.SumWithVectorWidth(Data, 128);

    [Benchmark(Description = "64-bit scalar loop")]
    public uint Width0() => InternetChecksum.SumWithVectorWidth(Data, 0);

    private static unsafe int AlignmentPad(byte[] pinned)
    {
        nuint address = (nuint)Unsafe.AsPointer(ref pinned[0]);
        return (int)((64 - (address & 63)) & 63);
    }
}

/// <summary>Short in-process job (no generated project to restore) plus a GB/s column.</summary>
public sealed class ChecksumBenchmarkConfig : ManualConfig
{
    public ChecksumBenchmarkConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithId("ShortRun-InProcess"));
        AddColumn(new ThroughputColumn());
        SummaryStyle = BenchmarkDotNet.Reports.SummaryStyle.Default.WithMaxParameterColumnWidth(20);
    }

    /// <summary>GB/s (10^9 bytes per second) from the mean ns/op and the Size parameter.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        public string Id => "GBps";
        public string ColumnName => "GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Bytes per op / mean time per op, in 10^9 bytes per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            BenchmarkReport? report = summary[benchmarkCase];
            object? size = benchmarkCase.Parameters["Size"];
            if (report?.ResultStatistics is null || size is not int bytes)
            {
                return "-";
            }
            double gbPerSecond = bytes / report.ResultStatistics.Mean; // bytes per ns == GB/s
            return gbPerSecond.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
    }
}
