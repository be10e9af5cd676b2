using BenchmarkDotNet.Attributes;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Wire;

namespace NetStack.Bench;

/// <summary>
/// RX checksum validation (what the channel endpoint does per inbound packet) against the raw checksum of
/// the same bytes: the difference is the cost of header checks and the pseudo-header.
/// </summary>
[MemoryDiagnoser]
[InProcess]
public class RxValidationBenchmarks
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "rx-bench");
    private PacketBuffer _packet = null!;
    private byte[] _bytes = null!;

    /// <summary>IP packet length: an Ethernet-MTU packet and a 64 KiB (GRO/GSO-sized) one.</summary>
    [Params(1500, 65535)]
    public int PacketLength { get; set; }

    [Params(false, true)]
    public bool V6 { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int ipLength = V6 ? Ipv6Header.Length : Ipv4Header.MinLength;
        var tcp = new TcpRepr { SourcePort = 1, DestinationPort = 2, SequenceNumber = 3, AcknowledgmentNumber = 4, Flags = TcpFlags.Ack, WindowSize = 100, Timestamps = new TcpTimestamps(5, 6) };
        int l4 = PacketLength - ipLength;
        _bytes = new byte[PacketLength];
        new Random(1).NextBytes(_bytes);
        if (V6)
        {
            new Ipv6Repr { Source = 1, Destination = 2, NextHeader = IpProtocol.Tcp, HopLimit = 64, PayloadLength = l4 }.Emit(_bytes);
        }
        else
        {
            new Ipv4Repr { Source = 0x0A000001, Destination = 0x0A000002, Protocol = IpProtocol.Tcp, TimeToLive = 64, PayloadLength = l4 }.Emit(_bytes);
        }
        tcp.Emit(_bytes.AsSpan(ipLength));
        uint pseudo = V6
            ? InternetChecksum.PseudoHeaderSumV6(_bytes.AsSpan(8, 16), _bytes.AsSpan(24, 16), 6, l4)
            : InternetChecksum.PseudoHeaderSumV4(_bytes.AsSpan(12, 4), _bytes.AsSpan(16, 4), 6, l4);
        TcpHeader.WriteChecksum(_bytes.AsSpan(ipLength), pseudo);
        _packet = _pool.RentCopy(_bytes);
    }

    [GlobalCleanup]
    public void Cleanup() => _packet.Release();

    [Benchmark(Baseline = true, Description = "raw InternetChecksum.Sum of the packet")]
    public uint RawChecksum() => InternetChecksum.Sum(_bytes);

    [Benchmark(Description = "RxChecksumValidator.Validate")]
    public int Validate()
    {
        _packet.RxChecksumValidated = false;
        return (int)RxChecksumValidator.Validate(_packet, out _);
    }
}
