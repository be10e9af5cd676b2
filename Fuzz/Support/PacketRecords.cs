// The input format of the batch targets (GRO, reassembly, stack): records of a 2-byte big-endian prefix and the
// packet bytes. The prefix's top bit asks for the packet to be built as a head plus payload segments, the next bit
// for its checksums to be fixed first (so mutations reach past RX validation), and the low 14 bits give the length
// (clamped to what is left of the input).
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Testing;
using NetStack.Testing.Packets;

namespace NetStack.Fuzz.Support;

/// <summary>One record of a batch input.</summary>
/// <param name="Bytes">The packet bytes as given.</param>
/// <param name="Segmented">Build the packet as a head plus payload segments.</param>
/// <param name="FixChecksums">Recompute the packet's checksums before use.</param>
public readonly ref struct PacketRecord(ReadOnlySpan<byte> bytes, bool segmented, bool fixChecksums)
{
    /// <summary>Top bit of the prefix.</summary>
    public const ushort SegmentedFlag = 0x8000;

    /// <summary>Second bit of the prefix.</summary>
    public const ushort FixChecksumsFlag = 0x4000;

    /// <summary>Longest record.</summary>
    public const int MaxLength = 0x3FFF;

    /// <summary>The packet bytes as given.</summary>
    public ReadOnlySpan<byte> Bytes { get; } = bytes;

    /// <summary>Build as head plus payload segments.</summary>
    public bool Segmented { get; } = segmented;

    /// <summary>Fix checksums first.</summary>
    public bool FixChecksums { get; } = fixChecksums;

    /// <summary>The 2-byte prefix of a record.</summary>
    public static ushort Prefix(int length, bool segmented, bool fixChecksums) =>
        (ushort)(Math.Min(length, MaxLength) | (segmented ? SegmentedFlag : 0) | (fixChecksums ? FixChecksumsFlag : 0));

    /// <summary>
    /// Rents the packet: the bytes (checksums fixed when asked) flat, or split after the headers at positions drawn
    /// from <paramref name="random"/>. The caller owns the packet.
    /// </summary>
    public PacketBuffer Rent(PacketBufferPool pool, ref InputRandom random)
    {
        byte[] bytes = FixChecksums ? PacketChecksums.Fixed(Bytes) : Bytes.ToArray();
        if (!Segmented)
        {
            return pool.RentCopy(bytes);
        }
        int head = HeaderSpan.Of(bytes);
        return SegmentedPacket.Build(pool, bytes, head, SegmentedPacket.ChooseCuts(ref random, head, bytes.Length, maxCuts: 3), random.Next(4));
    }
}

/// <summary>Reads <see cref="PacketRecord"/>s from an input.</summary>
public ref struct PacketRecordReader(ReadOnlySpan<byte> input)
{
    private ReadOnlySpan<byte> _rest = input;

    /// <summary>What is left of the input.</summary>
    public readonly ReadOnlySpan<byte> Rest => _rest;

    /// <summary>The next record, or false at the end of the input.</summary>
    public bool TryRead(out PacketRecord record)
    {
        if (_rest.Length < 2)
        {
            record = default;
            return false;
        }
        ushort prefix = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        int length = Math.Min(prefix & PacketRecord.MaxLength, _rest.Length - 2);
        record = new PacketRecord(_rest.Slice(2, length), (prefix & PacketRecord.SegmentedFlag) != 0, (prefix & PacketRecord.FixChecksumsFlag) != 0);
        _rest = _rest[(2 + length)..];
        return true;
    }

    /// <summary>Takes <paramref name="count"/> bytes (fewer at the end of the input).</summary>
    public ReadOnlySpan<byte> Take(int count)
    {
        ReadOnlySpan<byte> taken = _rest[..Math.Min(count, _rest.Length)];
        _rest = _rest[taken.Length..];
        return taken;
    }

    /// <summary>The next byte, or 0 at the end of the input.</summary>
    public byte NextByte()
    {
        ReadOnlySpan<byte> one = Take(1);
        return one.IsEmpty ? (byte)0 : one[0];
    }

    /// <summary>The next big-endian 16-bit value (missing bytes read as 0).</summary>
    public ushort NextUInt16() => (ushort)((NextByte() << 8) | NextByte());
}
