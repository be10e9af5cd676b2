// TCP header view (RFC 9293 §3.1): fixed 20 bytes, then options up to the data offset, then payload.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of a TCP segment (header, options and payload) over a span.
/// <see cref="TryCreate"/> validates the fixed header and the data offset so that every accessor stays in
/// bounds. It does not validate the option list: walk it with <see cref="GetOptions"/> (which reports
/// <see cref="WireError.BadOption"/>) or parse the segment with <see cref="TcpRepr.TryParse"/>, which fails
/// with <see cref="WireError.BadOption"/> so the TCP layer can drop segments with malformed options. This
/// keeps the RX checksum and GRO paths from paying for an option walk they do not need.
/// </summary>
public readonly ref struct TcpHeader
{
    /// <summary>Lengths: the fixed header (data offset 5) and the longest header (data offset 15, RFC 9293 §3.1).</summary>
    public const int MinLength = 20, MaxLength = 60;

    /// <summary>
    /// The offset table (RFC 9293 §3.1): where each field starts, shared by the view, its setters,
    /// <see cref="TcpRepr.Emit"/> and every other reader of TCP headers. <c>DataOffsetAndFlagsOffset</c> is the 16-bit
    /// word of the data offset (4 bits), 3 reserved bits and the 9 control bits; <c>ChecksumOffset</c> is virtio's
    /// <c>csum_offset</c> for TCP.
    /// </summary>
    public const int SourcePortOffset = 0, DestinationPortOffset = 2, SequenceOffset = 4, AcknowledgmentOffset = 8, DataOffsetAndFlagsOffset = 12,
        WindowOffset = 14, ChecksumOffset = 16, UrgentPointerOffset = 18;

    /// <summary>The control bits (<see cref="TcpFlags"/>, AE included) in the data-offset-and-flags word.</summary>
    public const ushort FlagsMask = 0x01FF;

    private readonly ReadOnlySpan<byte> _segment;

    private TcpHeader(ReadOnlySpan<byte> segment) => _segment = segment;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/>, which holds the TCP segment (everything after the IP
    /// headers). Fails with <see cref="WireError.Truncated"/> when the buffer is shorter than 20 bytes and
    /// with <see cref="WireError.BadHeaderLength"/> when the data offset is below 5 or past the buffer.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out TcpHeader header, out WireError error)
    {
        header = default;
        if (buffer.Length < MinLength)
        {
            error = WireError.Truncated;
            return false;
        }
        int headerLength = GetHeaderLength(buffer);
        if (headerLength < MinLength || headerLength > buffer.Length)
        {
            error = WireError.BadHeaderLength;
            return false;
        }
        header = new TcpHeader(buffer);
        error = WireError.None;
        return true;
    }

    /// <summary>
    /// The header length in bytes (data offset × 4) of the header at the start of <paramref name="header"/>,
    /// unchecked: for headers already accepted or written by the stack (12 bytes at least).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GetHeaderLength(ReadOnlySpan<byte> header) => (header[DataOffsetAndFlagsOffset] >> 4) * 4;

    /// <summary>The control bits of the header at the start of <paramref name="header"/>, unchecked (14 bytes at least).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TcpFlags GetFlags(ReadOnlySpan<byte> header) =>
        (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(header[DataOffsetAndFlagsOffset..]) & FlagsMask);

    /// <summary>The sequence number of the header at the start of <paramref name="header"/>, unchecked (8 bytes at least).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetSequenceNumber(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header[SequenceOffset..]);

    /// <summary>Source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_segment[SourcePortOffset..]);

    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_segment[DestinationPortOffset..]);

    /// <summary>Sequence number.</summary>
    public uint SequenceNumber => GetSequenceNumber(_segment);

    /// <summary>Acknowledgment number (significant only with <see cref="TcpFlags.Ack"/>).</summary>
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_segment[AcknowledgmentOffset..]);

    /// <summary>Data offset in 32-bit words (5..15).</summary>
    public int DataOffset => _segment[DataOffsetAndFlagsOffset] >> 4;

    /// <summary>Header length in bytes, options included (<see cref="DataOffset"/> × 4).</summary>
    public int HeaderLength => DataOffset * 4;

    /// <summary>The three reserved bits (RFC 9293 §3.1: zero on send, ignored on receive).</summary>
    public int Reserved => (_segment[DataOffsetAndFlagsOffset] >> 1) & 0x7;

    /// <summary>Control bits, including <see cref="TcpFlags.Ae"/>.</summary>
    public TcpFlags Flags => GetFlags(_segment);

    /// <summary>Receive window, unscaled.</summary>
    public ushort WindowSize => BinaryPrimitives.ReadUInt16BigEndian(_segment[WindowOffset..]);

    /// <summary>Checksum field as it is on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_segment[ChecksumOffset..]);

    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_segment[UrgentPointerOffset..]);

    /// <summary>The option bytes (between the fixed header and the data offset), possibly empty.</summary>
    public ReadOnlySpan<byte> Options => _segment[MinLength..HeaderLength];

    /// <summary>The header bytes, options included.</summary>
    public ReadOnlySpan<byte> Header => _segment[..HeaderLength];

    /// <summary>The payload: everything after the header.</summary>
    public ReadOnlySpan<byte> Payload => _segment[HeaderLength..];

    /// <summary>The whole segment this view was made over.</summary>
    public ReadOnlySpan<byte> Segment => _segment;

    /// <summary>An allocation-free walker over <see cref="Options"/>.</summary>
    public TcpOptionReader GetOptions() => new(Options);

    /// <summary>True when the checksum over the whole segment and <paramref name="pseudoHeaderSum"/> verifies.</summary>
    public bool VerifyChecksum(uint pseudoHeaderSum) => VerifyChecksum(_segment, pseudoHeaderSum);

    /// <summary>
    /// True when the checksum of <paramref name="segment"/> (header and payload) verifies against
    /// <paramref name="pseudoHeaderSum"/> (see <see cref="InternetChecksum.PseudoHeaderSumV4"/> and
    /// <see cref="InternetChecksum.PseudoHeaderSumV6"/>, with the segment length).
    /// </summary>
    public static bool VerifyChecksum(ReadOnlySpan<byte> segment, uint pseudoHeaderSum) =>
        TransportChecksum.Verifies(InternetChecksum.Sum(segment, pseudoHeaderSum));

    /// <summary>
    /// Computes and stores the checksum of a whole segment (header and payload contiguous in
    /// <paramref name="segment"/>), covering <paramref name="pseudoHeaderSum"/> (RFC 9293 §3.1).
    /// </summary>
    public static void WriteChecksum(Span<byte> segment, uint pseudoHeaderSum)
    {
        SetChecksum(segment, 0);
        SetChecksum(segment, InternetChecksum.Compute(segment, pseudoHeaderSum));
    }

    /// <summary>
    /// Computes and stores the checksum when the payload lives elsewhere: <paramref name="header"/> is the
    /// TCP header (length = data offset × 4) and <paramref name="payloadSum"/> is
    /// <see cref="InternetChecksum.Sum(System.ReadOnlySpan{byte}, uint)"/> of the payload read as one sequence starting at an even offset.
    /// </summary>
    public static void WriteChecksum(Span<byte> header, uint pseudoHeaderSum, uint payloadSum)
    {
        SetChecksum(header, 0);
        uint sum = InternetChecksum.Sum(header, InternetChecksum.Add(pseudoHeaderSum, payloadSum));
        SetChecksum(header, InternetChecksum.Finish(sum));
    }

    /// <summary>
    /// Stores the folded pseudo-header sum, not complemented, for CHECKSUM_PARTIAL (ARCHITECTURE.md §4): whoever
    /// completes the checksum sums from the TCP header to the end and stores the complement.
    /// </summary>
    public static void WritePartialChecksum(Span<byte> header, uint pseudoHeaderSum) =>
        SetChecksum(header, InternetChecksum.Fold(pseudoHeaderSum));

    /// <summary>Overwrites the checksum field of the header at the start of <paramref name="header"/>.</summary>
    public static void SetChecksum(Span<byte> header, ushort checksum) =>
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], checksum);

    /// <summary>Overwrites the sequence number (GSO split); the checksum is left for the caller to redo.</summary>
    public static void SetSequenceNumber(Span<byte> header, uint sequenceNumber) =>
        BinaryPrimitives.WriteUInt32BigEndian(header[SequenceOffset..], sequenceNumber);

    /// <summary>
    /// Overwrites the nine control bits, keeping the data offset and reserved bits (GRO/GSO adjust PSH,
    /// FIN and CWR); the checksum is left for the caller to redo.
    /// </summary>
    public static void SetFlags(Span<byte> header, TcpFlags flags)
    {
        Span<byte> field = header[DataOffsetAndFlagsOffset..];
        ushort word = BinaryPrimitives.ReadUInt16BigEndian(field);
        word = (ushort)((word & ~FlagsMask) | ((ushort)flags & FlagsMask));
        BinaryPrimitives.WriteUInt16BigEndian(field, word);
    }
}
