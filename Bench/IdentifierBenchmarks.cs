// Per-datagram and per-connection identifier costs, each against the form it replaced in the same run: the IPv4
// identification from the stack's keyed shared counters or from the connection's own counter (RFC 6864 §4.1,
// RFC 7739 §5), and the
// TCP initial sequence number's F as HMAC-SHA256 or SipHash-2-4 (RFC 6528 §3).
// Run: dotnet run -c Release --project Bench -- --filter '*IdentifierBenchmarks*'
using System.Buffers.Binary;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Bench;

/// <summary>One IPv4 ID and one ISN, the old way and the new way.</summary>
[InProcess]
[MemoryDiagnoser]
public class IdentifierBenchmarks
{
    private const uint Source = 0x0A000001, Destination = 0x0A000002;
    private static readonly byte[] s_secret = RandomNumberGenerator.GetBytes(32);
    private readonly Ipv4IdGenerator _ids = new(TimeProvider.System, new Random(1));
    private readonly TcpIsnGenerator _isn = new(s_secret, TimeProvider.System);
    private readonly TcpFourTuple _tuple = new(NetAddress.FromV4(Source), 49152, NetAddress.FromV4(Destination), 80);
    private Ipv4FlowIds _own = null!;

    [GlobalSetup]
    public void Setup() => _own = new Ipv4FlowIds(_ids.FlowStart(Source, Destination, 6, (49152UL << 16) | 80));

    /// <summary>The shared counters: a keyed hash of the flow, a clock read and two atomics per datagram.</summary>
    [Benchmark(Baseline = true)]
    public ushort Ipv4IdSharedCounters() => _ids.Next(Source, Destination, 6);

    /// <summary>The connection's own counter: one atomic add per datagram.</summary>
    [Benchmark]
    public ushort Ipv4IdConnectionCounter() => _own.Take(1);

    /// <summary>An ISN with F = HMAC-SHA256(secret, 4-tuple).</summary>
    [Benchmark]
    public uint IsnHmacSha256()
    {
        Span<byte> data = stackalloc byte[37];
        data.Clear();
        _tuple.LocalAddress.WriteBytes(data);
        _tuple.RemoteAddress.WriteBytes(data[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(data[32..], _tuple.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(data[34..], _tuple.RemotePort);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(s_secret, data, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash) + unchecked((uint)(TimeProvider.System.GetUtcNow().UtcTicks / 40));
    }

    /// <summary>An ISN with F = SipHash-2-4 keyed by the secret (<see cref="TcpIsnGenerator"/>).</summary>
    [Benchmark]
    public uint IsnSipHash() => _isn.Next(_tuple).Value;
}
