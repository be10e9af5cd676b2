using System.Buffers;
using BenchmarkDotNet.Attributes;
using NetStack.Buffers;

namespace NetStack.Bench;

/// <summary>Steady-state rent/return of packet buffers against ArrayPool (the BCL's pool) as the baseline.</summary>
[MemoryDiagnoser]
[InProcess]
public class BufferBenchmarks
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "bench");
    private PacketBuffer _source = null!;

    [GlobalSetup]
    public void Setup()
    {
        _source = _pool.RentCopy(new byte[1500]);
    }

    [GlobalCleanup]
    public void Cleanup() => _source.Release();

    [Benchmark(Baseline = true, Description = "ArrayPool<byte>.Shared Rent+Return 2 KiB")]
    public int ArrayPoolRentReturn()
    {
        byte[] a = ArrayPool<byte>.Shared.Rent(2048);
        int n = a.Length;
        ArrayPool<byte>.Shared.Return(a);
        return n;
    }

    [Benchmark(Description = "PacketBufferPool Rent+Release 1500 B")]
    public int RentRelease()
    {
        PacketBuffer p = _pool.Rent(1500);
        int n = p.Tailroom;
        p.Release();
        return n;
    }

    [Benchmark(Description = "Rent 64 KiB + Append + Prepend 40 + Release")]
    public int RentBuildRelease()
    {
        PacketBuffer p = _pool.Rent(65000);
        p.Append(65000);
        p.Prepend(40);
        int n = p.Length;
        p.Release();
        return n;
    }

    [Benchmark(Description = "Rent + AppendReference x8 (GRO-style) + Release")]
    public int CoalesceByReference()
    {
        PacketBuffer p = _pool.Rent(0);
        for (int i = 0; i < 8; i++)
        {
            p.AppendReference(_source, 52, 1448);
        }
        int n = p.Length;
        p.Release();
        return n;
    }
}
