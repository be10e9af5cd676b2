using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Wire;

namespace NetStack.Bench;

/// <summary>Builds TCP/IPv4 segments with timestamps (52-byte headers) and 1448 bytes of payload, checksums valid.</summary>
internal static class GroPackets
{
    public const int Mss = 1448;
    public const int HeaderLength = 20 + 32;

    public static byte[] Segment(int flow, int index, int payload = Mss)
    {
        var p = new byte[HeaderLength + payload];
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(1000 + index));
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = (byte)IpProtocol.Tcp;
        byte[] source = [10, 0, 0, 1], destination = [10, 0, 0, 2];
        source.CopyTo(p, 12);
        destination.CopyTo(p, 16);
        Ipv4Header.RecomputeChecksum(p);
        Span<byte> tcp = p.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)(40000 + flow));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], 1_000_000u + (uint)(index * Mss));
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 7777);
        tcp[12] = 8 << 4;
        tcp[13] = (byte)TcpFlags.Ack;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 502);
        byte[] timestamps = [1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0];
        timestamps.CopyTo(tcp[20..]);
        new Random(index).NextBytes(tcp[32..]);
        TcpHeader.WriteChecksum(tcp, InternetChecksum.PseudoHeaderSumV4(source, destination, (byte)IpProtocol.Tcp, tcp.Length));
        return p;
    }
}

/// <summary>
/// GRO of 1448-byte TCP segments from 1, 8 or 64 flows, interleaved round-robin, one batch of 2880 packets
/// (64 super-segments of 45 segments ≈ 64 KiB). Every method rents and fills the same packets (as the I/O
/// edge would) so the baseline (rent + copy-in + release) can be subtracted; "copy-coalesce" is what GRO must
/// not do: copying each payload into a staging buffer. Results are per packet (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
[InProcess]
public class GroBenchmarks
{
    private const int Packets = 2880;
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "bench-gro");
    private readonly byte[] _staging = new byte[65536];
    private byte[][] _templates = [];
    private TcpGro _gro = null!;
    private long _delivered;

    [Params(1, 8, 64)]
    public int Flows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _templates = new byte[Packets][];
        for (int i = 0; i < Packets; i++)
        {
            _templates[i] = GroPackets.Segment(i % Flows, i / Flows); // round-robin interleaving
        }
        _gro = new TcpGro(new GroOptions { MaxFlows = 64, Name = "bench" }, p =>
        {
            _delivered += p.SegmentsRepresented;
            p.Release();
        });
        GroCoalesce(); // warm the pool's free lists
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Packets, Description = "baseline: rent + copy-in + release")]
    public long RentFillRelease()
    {
        long n = 0;
        foreach (byte[] t in _templates)
        {
            PacketBuffer p = _pool.RentCopy(t);
            p.RxChecksumValidated = true;
            n += p.Length;
            p.Release();
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "copy-coalesce payload (what GRO must not do)")]
    public long CopyCoalesce()
    {
        long n = 0;
        int offset = 0;
        foreach (byte[] t in _templates)
        {
            PacketBuffer p = _pool.RentCopy(t);
            p.RxChecksumValidated = true;
            if (offset + GroPackets.Mss > _staging.Length)
            {
                offset = 0;
            }
            p.Head[GroPackets.HeaderLength..].CopyTo(_staging.AsSpan(offset));
            offset += GroPackets.Mss;
            n += p.Length;
            p.Release();
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "TcpGro: rent + copy-in + Enqueue, Flush, deliver + release")]
    public long GroCoalesce()
    {
        foreach (byte[] t in _templates)
        {
            PacketBuffer p = _pool.RentCopy(t);
            p.RxChecksumValidated = true;
            p.NetworkProtocol = NetworkProtocol.IPv4;
            _gro.Enqueue(p);
        }
        _gro.Flush();
        return _delivered;
    }
}

/// <summary>Software GSO of one 64 KiB TCP/IPv4 super-segment (45 × 1448 bytes in 45 pieces, as GRO builds it).</summary>
[MemoryDiagnoser]
[InProcess]
public class GroGsoSplitBenchmarks
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "bench-gso");
    private readonly PacketBuffer[] _output = new PacketBuffer[64];
    private readonly byte[] _flat = new byte[2048];
    private PacketBuffer _super = null!;

    [GlobalSetup]
    public void Setup()
    {
        var gro = new TcpGro(new GroOptions(), p => _super = p);
        for (int i = 0; i < 45; i++)
        {
            PacketBuffer p = _pool.RentCopy(GroPackets.Segment(0, i));
            p.RxChecksumValidated = true;
            gro.Enqueue(p);
        }
        gro.Flush();
        if (_super.SegmentsRepresented != 45 || GsoSegmenter.SegmentCount(_super) != 45)
        {
            throw new InvalidOperationException("setup did not build a 45-segment super-segment");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _super.Release();

    [Benchmark(Baseline = true, Description = "GSO split by reference (Split: 45 packets) + release")]
    public int SplitByReference()
    {
        int n = GsoSegmenter.Split(_super, _pool, _output);
        for (int i = 0; i < n; i++)
        {
            _output[i].Release();
        }
        return n;
    }

    [Benchmark(Description = "GSO WriteSegment x45 into a flat buffer (copy)")]
    public int WriteSegments()
    {
        int total = 0;
        for (int i = 0; i < 45; i++)
        {
            total += GsoSegmenter.WriteSegment(_super, i, _flat);
        }
        return total;
    }
}
