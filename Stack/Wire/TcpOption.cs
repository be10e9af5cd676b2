// One TCP option as the walker found it (RFC 9293 §3.2): kind, and the bytes after kind and length.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// One option yielded by <see cref="TcpOptionReader"/>. For the known kinds the reader has already checked
/// the length, so the typed accessors of the matching kind cannot read out of bounds; an accessor of a
/// different kind returns 0.
/// </summary>
public readonly ref struct TcpOption
{
    /// <summary>The largest shift count a receiver uses (RFC 7323 §2.3).</summary>
    public const byte MaxWindowScale = 14;
    /// <summary>
    /// Option lengths, kind and length octets included: MSS (RFC 9293 §3.2), window scale (RFC 7323 §2.2),
    /// SACK-permitted (RFC 2018 §2), timestamps (RFC 7323 §3.2); and one SACK block's (left and right edge, RFC 2018 §3).
    /// </summary>
    public const int MaxSegmentSizeLength = 4, WindowScaleLength = 3, SackPermittedLength = 2, TimestampsLength = 10, SackBlockLength = 8;

    private readonly ReadOnlySpan<byte> _data;

    internal TcpOption(byte kind, ReadOnlySpan<byte> data)
    {
        RawKind = kind;
        _data = data;
    }

    /// <summary>The kind byte as on the wire (may be a kind this enum does not name).</summary>
    public byte RawKind { get; }

    /// <summary>The kind as an enum value (unknown kinds keep their number).</summary>
    public TcpOptionKind Kind => (TcpOptionKind)RawKind;

    /// <summary>The option's bytes after kind and length (empty for EOL and NOP).</summary>
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>The value of a <see cref="TcpOptionKind.MaxSegmentSize"/> option.</summary>
    public ushort MaxSegmentSize => Kind == TcpOptionKind.MaxSegmentSize ? BinaryPrimitives.ReadUInt16BigEndian(_data) : (ushort)0;

    /// <summary>The shift count of a <see cref="TcpOptionKind.WindowScale"/> option as received.</summary>
    public byte WindowScaleRaw => Kind == TcpOptionKind.WindowScale ? _data[0] : (byte)0;

    /// <summary>The shift count to use: values above 14 are taken as 14 (RFC 7323 §2.3).</summary>
    public byte WindowScale => Math.Min(WindowScaleRaw, MaxWindowScale);

    /// <summary>Number of blocks in a <see cref="TcpOptionKind.Sack"/> option (1..4).</summary>
    public int SackBlockCount => Kind == TcpOptionKind.Sack ? _data.Length / SackBlockLength : 0;

    /// <summary>Block <paramref name="index"/> of a SACK option (0 ≤ index &lt; <see cref="SackBlockCount"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside 0..SackBlockCount-1.</exception>
    public TcpSackBlock GetSackBlock(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, SackBlockCount);
        ReadOnlySpan<byte> block = _data.Slice(index * 8, 8);
        return new TcpSackBlock(BinaryPrimitives.ReadUInt32BigEndian(block), BinaryPrimitives.ReadUInt32BigEndian(block[4..]));
    }

    /// <summary>TSval of a <see cref="TcpOptionKind.Timestamps"/> option (RFC 7323 §3.2).</summary>
    public uint TimestampValue => Kind == TcpOptionKind.Timestamps ? BinaryPrimitives.ReadUInt32BigEndian(_data) : 0;

    /// <summary>TSecr of a <see cref="TcpOptionKind.Timestamps"/> option (RFC 7323 §3.2).</summary>
    public uint TimestampEcho => Kind == TcpOptionKind.Timestamps ? BinaryPrimitives.ReadUInt32BigEndian(_data[4..]) : 0;
}
