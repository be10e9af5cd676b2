// Software GSO: a packet with input-chosen GsoOptions cut into wire segments. The segments must be what ARCHITECTURE.md §4
// says (MSS-sized, sequence and ID stepping, fresh checksums, FIN/PSH only last, CWR only first), and GRO must put
// them back together again.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Testing;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: byte 0 the GSO type (0 none, 1 TCPv4, 4 TCPv6, other values as they are), bytes 1–2 the MSS, byte 3 flags
/// (bit 0 NeedsChecksum, bit 1 build as head + payload segments, bit 2 fix checksums first, bit 3 write the partial
/// pseudo-header sum into the TCP checksum as GRO does, bit 4 take checksum start from bytes 4–5 instead of 0, bit 5
/// up to 127 payload pieces), bytes
/// 4–5 checksum start, then the packet.
/// <para>Invariants: <see cref="GsoSegmenter.TryGetSegmentCount"/>, <see cref="GsoSegmenter.TrySplit"/> and
/// <see cref="GsoSegmenter.SegmentLength"/> agree on success and count; the packet is not modified; each split
/// segment equals <see cref="GsoSegmenter.TryWriteSegment"/>'s bytes and its announced length; for a GSO packet every
/// segment is a valid packet (RX validation: Validated) with sequence = first + i·MSS, IPv4 ID = first + i, payload
/// = its slice of the original (MSS bytes but the last), FIN/PSH only on the last and CWR only on the first; GRO of the
/// validated segments, split again, gives the same segments byte for byte, and when every segment is mergeable GRO
/// gives back one packet equal to the original but for checksums; no buffer leaks.</para>
/// </summary>
public sealed class GsoSplitTarget : IFuzzTarget
{
    private const int HeaderBytes = 6;

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-gso");
    private readonly PacketBuffer[] _segments = new PacketBuffer[70_000];
    private readonly PacketBuffer[] _again = new PacketBuffer[70_000];
    private readonly List<PacketBuffer> _merged = [];

    /// <inheritdoc/>
    public string Name => "GsoSplit";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < HeaderBytes)
        {
            return;
        }
        byte flags = input[3];
        byte[] bytes = (flags & 4) != 0 ? PacketChecksums.Fixed(input[HeaderBytes..]) : input[HeaderBytes..].ToArray();
        var random = new InputRandom(input, salt: 21);
        // Bit 5: payload in up to MaxPayloadSegments tiny pieces, so a segment's slice may span more pieces than a
        // packet can reference (GsoSegmenter then copies that slice).
        int maxCuts = (flags & 32) != 0 ? PacketBuffer.MaxPayloadSegments - 1 : 3;
        PacketBuffer packet = (flags & 2) != 0
            ? SegmentedPacket.Build(_pool, bytes, HeaderSpan.Of(bytes), SegmentedPacket.ChooseCuts(ref random, HeaderSpan.Of(bytes), bytes.Length, maxCuts), random.Next(4))
            : _pool.RentCopy(bytes);
        try
        {
            var gso = new GsoOptions
            {
                Type = (GsoType)input[0],
                MaxSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(input[1..]),
                NeedsChecksum = (flags & 1) != 0,
                ChecksumStart = (flags & 16) != 0 ? BinaryPrimitives.ReadUInt16BigEndian(input[4..]) : (ushort)0,
                ChecksumOffset = 16,
            };
            if ((flags & 8) != 0)
            {
                WritePartialChecksum(packet);
            }
            packet.Gso = gso;
            byte[] before = packet.ToArray();
            Split(packet, before);
            Check.BytesEqual(before, packet.ToArray(), "GSO split leaves the packet as it was");
        }
        finally
        {
            packet.Release();
        }
        Check.NoLeaks(_pool);
    }

    private void Split(PacketBuffer packet, byte[] original)
    {
        bool counted = GsoSegmenter.TryGetSegmentCount(packet, out int count, out GsoError countError);
        bool split = GsoSegmenter.TrySplit(packet, _pool, _segments, out int splitCount, out GsoError splitError);
        Check.Equal(counted, split, $"count and split agree on success ({countError}/{splitError})");
        Check.Equal(countError, splitError, "count and split give the same error");
        Check.Equal(counted && packet.Length > 0, GsoSegmenter.SegmentLength(packet, 0) > 0, "SegmentLength(0) > 0 exactly when a non-empty packet splits");
        Check.Equal(counted ? count : 0, GsoSegmenter.SegmentCount(packet), "SegmentCount = TryGetSegmentCount");
        if (!split)
        {
            Check.Equal(0, splitCount, "a failed split returns nothing");
            return;
        }
        try
        {
            Check.Equal(count, splitCount, "split count");
            Check.True(count >= 1, "at least one segment");
            Check.Equal(0, GsoSegmenter.SegmentLength(packet, count), "no segment past the count");
            var written = new byte[65_536];
            for (int i = 0; i < count; i++)
            {
                byte[] segment = _segments[i].ToArray();
                Check.Equal(GsoSegmenter.SegmentLength(packet, i), segment.Length, $"segment {i} length");
                Check.True(GsoSegmenter.TryWriteSegment(packet, i, written, out int length, out GsoError error), $"TryWriteSegment {i}: {error}");
                Check.BytesEqual(segment, written.AsSpan(0, length), $"segment {i}: split = write");
                Check.Equal(length, GsoSegmenter.WriteSegment(packet, i, written), $"WriteSegment {i} = TryWriteSegment");
                if (length > 0)
                {
                    Check.True(!GsoSegmenter.TryWriteSegment(packet, i, written.AsSpan(0, length - 1), out _, out GsoError shortError)
                        && shortError == GsoError.DestinationTooSmall, "a destination one byte short is refused");
                }
            }
            Check.True(!GsoSegmenter.TryWriteSegment(packet, count, written, out _, out GsoError past) && past == GsoError.IndexOutOfRange, "index past the count refused");
            if (count > 1)
            {
                Check.True(!GsoSegmenter.TrySplit(packet, _pool, _again.AsSpan(0, count - 1), out _, out GsoError small) && small == GsoError.DestinationTooSmall,
                    "an output one short is refused (and rents nothing)");
            }
            int again = GsoSegmenter.Split(packet, _pool, _again);
            Check.Equal(count, again, "Split = TrySplit");
            for (int i = 0; i < again; i++)
            {
                Check.BytesEqual(_segments[i].ToArray(), _again[i].ToArray(), $"Split segment {i} = TrySplit segment {i}");
                _again[i].Release();
                _again[i] = null!;
            }
            if (packet.Gso.IsGso)
            {
                CheckSegments(packet, original, count);
                CheckRegro(packet, original, count);
            }
            else
            {
                Check.Equal(1, count, "a packet without GSO is one segment");
                Check.True(ReferenceEquals(packet, _segments[0]), "a packet without GSO splits into itself");
            }
        }
        finally
        {
            for (int i = 0; i < splitCount; i++)
            {
                _segments[i].Release();
                _segments[i] = null!;
            }
        }
    }

    private void CheckSegments(PacketBuffer packet, byte[] original, int count)
    {
        int mss = packet.Gso.MaxSegmentSize;
        bool v6 = packet.Gso.Type == GsoType.TcpV6;
        int tcpOffset = TcpOffset(original, v6);
        int headerLength = tcpOffset + TcpHeader.GetHeaderLength(original.AsSpan(tcpOffset));
        uint sequence = BinaryPrimitives.ReadUInt32BigEndian(original.AsSpan(tcpOffset + 4));
        ushort id = v6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(original.AsSpan(4));
        var flags = (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(original.AsSpan(tcpOffset + 12)) & 0x1FF);
        int payloadLength = original.Length - headerLength;
        Check.Equal(payloadLength == 0 ? 1 : (payloadLength + mss - 1) / mss, count, "segments = ceil(payload / MSS)");
        for (int i = 0; i < count; i++)
        {
            PacketBuffer segment = _segments[i];
            byte[] bytes = segment.ToArray();
            int payload = bytes.Length - headerLength;
            Check.Equal(i == count - 1 ? payloadLength - (i * mss) : mss, payload, $"segment {i} payload");
            Check.BytesEqual(original.AsSpan(headerLength + (i * mss), payload), bytes.AsSpan(headerLength), $"segment {i} payload bytes");
            Check.Equal(sequence + (uint)(i * mss), BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(tcpOffset + 4)), $"segment {i} sequence");
            if (!v6)
            {
                Check.Equal((ushort)(id + i), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(4)), $"segment {i} IPv4 ID");
            }
            var segmentFlags = (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(tcpOffset + 12)) & 0x1FF);
            TcpFlags want = flags;
            if (i != count - 1)
            {
                want &= ~(TcpFlags.Fin | TcpFlags.Psh);
            }
            if (i != 0)
            {
                want &= ~TcpFlags.Cwr;
            }
            Check.Equal(want, segmentFlags, $"segment {i} flags");
            Check.Equal(packet.Gso.Type == GsoType.TcpV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4, segment.NetworkProtocol, "segment labelled");
            using PacketBuffer copy = _pool.RentCopy(bytes);
            RxVerdict verdict = RxChecksumValidator.Validate(copy, out RxDropReason reason);
            Check.True(verdict == RxVerdict.Validated, $"segment {i} of {count} validates ({verdict} {reason}): {Convert.ToHexString(bytes)}");
        }
    }

    // Split → validate → GRO → split must give the same segments; when every segment is mergeable, GRO returns one packet.
    private void CheckRegro(PacketBuffer packet, byte[] original, int count)
    {
        _merged.Clear();
        var gro = new TcpGro(new GroOptions { Name = "fuzz-gso" }, _merged.Add);
        var first = new List<byte[]>(count);
        for (int i = 0; i < count; i++)
        {
            byte[] bytes = _segments[i].ToArray();
            first.Add(bytes);
            PacketBuffer copy = _pool.RentCopy(bytes);
            RxChecksumValidator.Validate(copy, out _);
            gro.Enqueue(copy);
        }
        gro.Flush();
        try
        {
            var again = new List<byte[]>(count);
            foreach (PacketBuffer output in _merged)
            {
                if (!GsoSegmenter.TrySplit(output, _pool, _again, out int n, out GsoError error))
                {
                    throw new FuzzInvariantException($"GRO output of GSO segments does not split: {error}");
                }
                for (int i = 0; i < n; i++)
                {
                    again.Add(_again[i].ToArray());
                    _again[i].Release();
                    _again[i] = null!;
                }
            }
            Check.Equal(first.Count, again.Count, "split → GRO → split segment count");
            for (int i = 0; i < first.Count; i++)
            {
                Check.BytesEqual(first[i], again[i], $"split → GRO → split segment {i}");
            }
            if (count >= 2 && Mergeable(original, packet.Gso.Type == GsoType.TcpV6))
            {
                Check.Equal(1, _merged.Count, "GRO merges every segment of a mergeable super-segment");
                byte[] merged = _merged[0].ToArray();
                Check.BytesEqual(WithoutChecksums(original), WithoutChecksums(merged), "GRO of the split = the original (checksums aside)");
                Check.Equal(packet.Gso.MaxSegmentSize, _merged[0].Gso.MaxSegmentSize, "GRO restores the MSS");
            }
        }
        finally
        {
            foreach (PacketBuffer output in _merged)
            {
                output.Release();
            }
            _merged.Clear();
        }
    }

    // What GRO merges: no SYN/RST/URG, payload, no IPv4 options (RFC 791) and a fitting IP length; IPv6 without routing header.
    private static bool Mergeable(byte[] original, bool v6)
    {
        int tcpOffset = TcpOffset(original, v6);
        var flags = (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(original.AsSpan(tcpOffset + 12)) & 0x1FF);
        if ((flags & (TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Urg)) != 0 || original.Length > GroOptions.MaxIpLength)
        {
            return false;
        }
        return v6 || (original[0] & 0x0F) == 5;
    }

    private static byte[] WithoutChecksums(byte[] packet)
    {
        byte[] copy = (byte[])packet.Clone();
        bool v6 = copy[0] >> 4 == 6;
        if (!v6)
        {
            copy[10] = copy[11] = 0;
        }
        int tcp = TcpOffset(copy, v6);
        copy[tcp + 16] = copy[tcp + 17] = 0;
        return copy;
    }

    private static int TcpOffset(byte[] packet, bool v6)
    {
        if (!v6)
        {
            return Ipv4Header.GetHeaderLength(packet);
        }
        return Ipv6ExtensionWalker.TryWalk((IpProtocol)packet[6], packet.AsSpan(Ipv6Header.Length), out Ipv6ExtensionChain chain, out _)
            ? Ipv6Header.Length + chain.UpperLayerOffset
            : Ipv6Header.Length;
    }

    // The folded pseudo-header sum in the TCP checksum field (CHECKSUM_PARTIAL), when the headers parse.
    private static void WritePartialChecksum(PacketBuffer packet)
    {
        Span<byte> head = packet.Head;
        if (head.Length < 1)
        {
            return;
        }
        bool v6 = head[0] >> 4 == 6;
        if (!v6 && head.Length >= 20)
        {
            int ihl = Ipv4Header.GetHeaderLength(head);
            if (ihl >= 20 && head.Length >= ihl + 20)
            {
                uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(head.Slice(12, 4), head.Slice(16, 4), (byte)IpProtocol.Tcp, packet.Length - ihl);
                TcpHeader.WritePartialChecksum(head[ihl..], pseudo);
            }
        }
        else if (v6 && head.Length >= 60)
        {
            uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV6(head.Slice(8, 16), head.Slice(24, 16), (byte)IpProtocol.Tcp, packet.Length - 40);
            TcpHeader.WritePartialChecksum(head[40..], pseudo);
        }
    }
}
