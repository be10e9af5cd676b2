// UDP GRO on the TUN write path: a write batch through UdpWriteCoalescer, its USO output split back.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link.Tun;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: a batch of packet records (up to 64), fed as the writer feeds them: candidates to
/// <c>UdpWriteCoalescer.Add</c>, anything else after a flush, and a flush at the end. Invariants: the outputs stand
/// for every input (segments represented add up, the merge counter is the difference); a merged output is a
/// USO packet of 2–64 segments within 64 KiB that <see cref="UdpGsoSplitter"/> splits into exactly that many; split
/// back, every output segment that came from a well-formed datagram (IP and UDP lengths agreeing with the packet)
/// equals it byte for byte but for the checksum fields; nothing leaks.
/// </summary>
public sealed class UdpWriteCoalescerTarget : IFuzzTarget
{
    /// <summary>Most packets in one batch.</summary>
    public const int MaxBatch = 64;

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-udpgro");
    private readonly List<PacketBuffer> _emitted = [];
    private readonly UdpWriteCoalescer _coalescer;
    private readonly PacketBuffer[] _split = new PacketBuffer[UdpWriteCoalescer.MaxSegments];

    /// <summary>Creates the coalescer (reused: it holds nothing after a flush).</summary>
    public UdpWriteCoalescerTarget() => _coalescer = new UdpWriteCoalescer(_emitted.Add);

    /// <inheritdoc/>
    public string Name => "UdpWriteCoalescer";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var random = new InputRandom(input, salt: 13);
        var reader = new PacketRecordReader(input);
        var inputs = new List<byte[]>();
        long mergedBefore = _coalescer.Merged;
        _emitted.Clear();
        while (inputs.Count < MaxBatch && reader.TryRead(out PacketRecord record))
        {
            PacketBuffer packet = record.Rent(_pool, ref random);
            inputs.Add(packet.ToArray());
            if (UdpWriteCoalescer.IsCandidate(packet))
            {
                _coalescer.Add(packet);
            }
            else
            {
                _coalescer.Flush();
                _emitted.Add(packet);
            }
        }
        _coalescer.Flush();

        long represented = 0;
        var segments = new List<byte[]>();
        foreach (PacketBuffer output in _emitted)
        {
            int n = Math.Max(1, output.SegmentsRepresented);
            represented += n;
            if (!output.Gso.IsGso)
            {
                segments.Add(output.ToArray());
                continue;
            }
            Check.Equal(GsoType.UdpL4, output.Gso.Type, "a merged output is USO");
            Check.True(output.Gso.NeedsChecksum, "a merged output carries a partial checksum");
            Check.True(n is >= 2 and <= UdpWriteCoalescer.MaxSegments, "a merged output holds 2–64 datagrams");
            Check.True(output.Length <= 65535, "a merged output fits an IP length");
            Check.True(UdpGsoSplitter.TrySplit(output, _pool, _split, out int count), "a merged output splits");
            Check.Equal(n, count, "it splits into the datagrams it stands for");
            for (int i = 0; i < count; i++)
            {
                segments.Add(_split[i].ToArray());
                _split[i].Release();
                _split[i] = null!;
            }
        }
        Check.Equal((long)inputs.Count, represented, "the outputs stand for every input");
        Check.Equal(inputs.Count - _emitted.Count, (int)(_coalescer.Merged - mergedBefore), "the merge counter counts the merged datagrams");
        Check.Equal(inputs.Count, segments.Count, "split back, one segment per input");
        for (int i = 0; i < inputs.Count; i++)
        {
            if (WellFormedUdp(inputs[i], out int udpOffset))
            {
                Mask(inputs[i], udpOffset);
                Mask(segments[i], udpOffset);
                Check.BytesEqual(inputs[i], segments[i], "a datagram comes back as it went in");
            }
        }
        foreach (PacketBuffer output in _emitted)
        {
            output.Release();
        }
        _emitted.Clear();
        Check.NoLeaks(_pool);
    }

    /// <summary>A UDP datagram whose IP and UDP lengths both match the packet (what the stack writes).</summary>
    private static bool WellFormedUdp(byte[] packet, out int udpOffset)
    {
        udpOffset = 0;
        if (!IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _) || ip.Protocol != IpProtocol.Udp || ip.IsFragment
            || ip.HasExtensionHeaders || ip.Length != packet.Length || ip.TransportLength < UdpHeader.HeaderLength)
        {
            return false;
        }
        udpOffset = ip.TransportOffset;
        return BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(udpOffset + 4)) == packet.Length - udpOffset;
    }

    private static void Mask(byte[] packet, int udpOffset)
    {
        if (packet.Length < udpOffset + UdpHeader.HeaderLength)
        {
            return;
        }
        if (packet[0] >> 4 == 4)
        {
            packet[Ipv4Header.ChecksumOffset] = packet[Ipv4Header.ChecksumOffset + 1] = 0;
        }
        packet[udpOffset + UdpHeader.ChecksumOffset] = packet[udpOffset + UdpHeader.ChecksumOffset + 1] = 0;
    }
}
