// UDP header view (RFC 768): ports, length, checksum; the payload stops at the length field.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of a UDP datagram over a span. <see cref="TryCreate(ReadOnlySpan{byte}, out UdpHeader, out WireError)"/> checks the 8-byte
/// header and the length field (at least 8, at most the buffer); the view then covers exactly
/// <see cref="Length"/> bytes, so trailing bytes (link padding) are not payload.
/// </summary>
public readonly ref struct UdpHeader
{
    /// <summary>Length of the UDP header.</summary>
    public const int HeaderLength = 8;

    /// <summary>
    /// The offset table (RFC 768), shared by the view, its setters and <see cref="UdpRepr.Emit"/>: ports, the length
    /// field (GSO and GRO rewrite it) and the checksum (virtio's <c>csum_offset</c> for UDP).
    /// </summary>
    public const int SourcePortOffset = 0, DestinationPortOffset = 2, LengthOffset = 4, ChecksumOffset = 6;

    private readonly ReadOnlySpan<byte> _datagram;

    private UdpHeader(ReadOnlySpan<byte> datagram) => _datagram = datagram;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/> (everything after the IP headers). Fails with
    /// <see cref="WireError.Truncated"/> when the buffer is shorter than 8 bytes or than the length field, and
    /// with <see cref="WireError.BadTotalLength"/> when the length field is below 8. This factory does not
    /// know the IP version; see <see cref="UdpRepr.TryParse(in UdpHeader, NetworkProtocol, out UdpRepr, out WireError)"/>
    /// and <see cref="VerifyChecksum(ReadOnlySpan{byte}, uint, NetworkProtocol, out WireError)"/> for the
    /// IPv6 zero-checksum rule.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out UdpHeader header, out WireError error) =>
        TryCreate(buffer, buffer.Length, out header, out error);

    /// <summary>
    /// Makes a view over the header at the start of <paramref name="head"/>, the part of a datagram that lies in
    /// a packet's head when the IP payload (<paramref name="available"/> bytes from the header on) continues in
    /// other pieces: the 8-byte header must lie in <paramref name="head"/> and the length field within
    /// <paramref name="available"/>; the errors are those of
    /// <see cref="TryCreate(ReadOnlySpan{byte}, out UdpHeader, out WireError)"/>. <see cref="Datagram"/> and
    /// <see cref="Payload"/> then hold only what the head holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> head, int available, out UdpHeader header, out WireError error)
    {
        header = default;
        if (head.Length < HeaderLength || available < HeaderLength)
        {
            error = WireError.Truncated;
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(head[LengthOffset..]);
        if (length < HeaderLength)
        {
            error = WireError.BadTotalLength;
            return false;
        }
        if (length > available)
        {
            error = WireError.Truncated;
            return false;
        }
        header = new UdpHeader(head[..Math.Min(length, head.Length)]);
        error = WireError.None;
        return true;
    }

    /// <summary>Source port (0 when unused, RFC 768).</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_datagram[SourcePortOffset..]);

    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_datagram[DestinationPortOffset..]);

    /// <summary>Length field: header plus payload in bytes.</summary>
    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(_datagram[LengthOffset..]);

    /// <summary>Checksum field as on the wire (0 = no checksum, IPv4 only).</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_datagram[ChecksumOffset..]);

    /// <summary>The payload: <see cref="Length"/> − 8 bytes after the header (for a view over a head, the part the head holds).</summary>
    public ReadOnlySpan<byte> Payload => _datagram[HeaderLength..];

    /// <summary>The datagram (header and payload, <see cref="Length"/> bytes; for a view over a head, the part the head holds).</summary>
    public ReadOnlySpan<byte> Datagram => _datagram;

    /// <summary>Checks the checksum of this datagram; see <see cref="VerifyChecksum(ReadOnlySpan{byte}, uint, NetworkProtocol, out WireError)"/>.</summary>
    public bool VerifyChecksum(uint pseudoHeaderSum, NetworkProtocol network, out WireError error) =>
        VerifyChecksum(_datagram, pseudoHeaderSum, network, out error);

    /// <summary>
    /// Checks the checksum of <paramref name="datagram"/> (header and payload, as many bytes as the length
    /// field) against <paramref name="pseudoHeaderSum"/>. A zero field means "no checksum": accepted over
    /// IPv4 (RFC 768) and refused with <see cref="WireError.BadField"/> over IPv6 (RFC 8200 §8.1). A sum
    /// that does not verify gives <see cref="WireError.BadChecksum"/>. <paramref name="network"/> values
    /// other than <see cref="NetworkProtocol.IPv6"/> follow the IPv4 rule.
    /// </summary>
    public static bool VerifyChecksum(ReadOnlySpan<byte> datagram, uint pseudoHeaderSum, NetworkProtocol network, out WireError error)
    {
        if (BinaryPrimitives.ReadUInt16BigEndian(datagram[ChecksumOffset..]) == 0)
        {
            error = TransportChecksum.UdpZeroChecksum(network) == TransportChecksumStatus.Absent ? WireError.None : WireError.BadField;
            return error == WireError.None;
        }
        error = TransportChecksum.Verifies(InternetChecksum.Sum(datagram, pseudoHeaderSum)) ? WireError.None : WireError.BadChecksum;
        return error == WireError.None;
    }

    /// <summary>
    /// Computes and stores the checksum of a whole datagram (header and payload contiguous); a computed 0 is
    /// sent as 0xFFFF (RFC 768).
    /// </summary>
    public static void WriteChecksum(Span<byte> datagram, uint pseudoHeaderSum)
    {
        SetChecksum(datagram, 0);
        SetChecksum(datagram, NonZero(InternetChecksum.Compute(datagram, pseudoHeaderSum)));
    }

    /// <summary>
    /// Computes and stores the checksum when the payload lives elsewhere: <paramref name="header"/> is the
    /// 8-byte header and <paramref name="payloadSum"/> is <see cref="InternetChecksum.Sum(System.ReadOnlySpan{byte}, uint)"/> of the payload
    /// read as one sequence. A computed 0 is sent as 0xFFFF (RFC 768).
    /// </summary>
    public static void WriteChecksum(Span<byte> header, uint pseudoHeaderSum, uint payloadSum)
    {
        SetChecksum(header, 0);
        uint sum = InternetChecksum.Sum(header[..HeaderLength], InternetChecksum.Add(pseudoHeaderSum, payloadSum));
        SetChecksum(header, NonZero(InternetChecksum.Finish(sum)));
    }

    /// <summary>
    /// Stores the folded pseudo-header sum, not complemented, for CHECKSUM_PARTIAL (ARCHITECTURE.md §4).
    /// </summary>
    public static void WritePartialChecksum(Span<byte> header, uint pseudoHeaderSum) =>
        SetChecksum(header, InternetChecksum.Fold(pseudoHeaderSum));

    /// <summary>Overwrites the length field (GSO/GRO); the checksum is left for the caller to redo.</summary>
    public static void SetLength(Span<byte> header, ushort length) =>
        BinaryPrimitives.WriteUInt16BigEndian(header[LengthOffset..], length);

    /// <summary>Overwrites the checksum field.</summary>
    public static void SetChecksum(Span<byte> header, ushort checksum) =>
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], checksum);

    private static ushort NonZero(ushort checksum) => checksum == 0 ? (ushort)0xFFFF : checksum;
}
