// ICMPv6 message view (RFC 4443 §2.1): type, code, checksum over the IPv6 pseudo-header and the message,
// four type-specific bytes, then the echo data or the invoking packet.
using System.Buffers.Binary;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of an ICMPv6 message over a span (everything after the IPv6 headers).
/// <see cref="TryCreate"/> only requires the 8-byte header, so every accessor is in bounds for every type;
/// which accessors are meaningful depends on <see cref="Type"/>. The checksum covers the IPv6 pseudo-header
/// (next header 58, RFC 4443 §2.3) and the message.
/// </summary>
public readonly ref struct IcmpV6Header
{
    /// <summary>Length of the ICMPv6 header (type, code, checksum and the four type-specific bytes).</summary>
    public const int HeaderLength = IcmpHeaderLayout.HeaderLength;

    /// <summary>
    /// The offset table (the layout ICMPv4 and ICMPv6 share, RFC 792, RFC 4443 §2.1): type, code, checksum, the four
    /// type-specific bytes, and the echo identifier and sequence number within them.
    /// </summary>
    public const int TypeOffset = IcmpHeaderLayout.TypeOffset, CodeOffset = IcmpHeaderLayout.CodeOffset, ChecksumOffset = IcmpHeaderLayout.ChecksumOffset,
        RestOfHeaderOffset = IcmpHeaderLayout.RestOfHeaderOffset, IdentifierOffset = 4, SequenceNumberOffset = 6;

    /// <summary>
    /// Largest IPv6 packet an ICMPv6 error may fill, invoking packet included: the minimum IPv6 MTU
    /// (RFC 4443 §2.4 (c)).
    /// </summary>
    public const int MaxErrorPacketLength = 1280;

    private readonly ReadOnlySpan<byte> _message;

    private IcmpV6Header(ReadOnlySpan<byte> message) => _message = message;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/>, the whole ICMPv6 message. Fails with
    /// <see cref="WireError.Truncated"/> when it is shorter than 8 bytes.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out IcmpV6Header header, out WireError error)
    {
        header = IcmpHeaderLayout.HoldsHeader(buffer, out error) ? new IcmpV6Header(buffer) : default;
        return error == WireError.None;
    }

    /// <summary>Message type (may be a value <see cref="IcmpV6Type"/> does not name).</summary>
    public IcmpV6Type Type => (IcmpV6Type)_message[TypeOffset];

    /// <summary>Message code.</summary>
    public byte Code => _message[CodeOffset];

    /// <summary>Checksum field as on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_message[ChecksumOffset..]);

    /// <summary>True for error messages (type below 128, RFC 4443 §2.1).</summary>
    public bool IsError => _message[TypeOffset] < 128;

    /// <summary>The four type-specific bytes after the checksum, as one big-endian word.</summary>
    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_message[RestOfHeaderOffset..]);

    /// <summary>Echo identifier (bytes 4–5, RFC 4443 §4).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_message[IdentifierOffset..]);

    /// <summary>Echo sequence number (bytes 6–7, RFC 4443 §4).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_message[SequenceNumberOffset..]);

    /// <summary>MTU of a packet-too-big message (RFC 4443 §3.2).</summary>
    public uint Mtu => RestOfHeader;

    /// <summary>Pointer of a parameter-problem message (RFC 4443 §3.4).</summary>
    public uint Pointer => RestOfHeader;

    /// <summary>
    /// The bytes after the header: echo data, or for an error as much of the invoking packet as fits
    /// (RFC 4443 §2.4 (c); parse it with the IPv6 view before trusting it).
    /// </summary>
    public ReadOnlySpan<byte> Payload => _message[HeaderLength..];

    /// <summary>The whole message.</summary>
    public ReadOnlySpan<byte> Message => _message;

    /// <summary>True when the message's checksum verifies against <paramref name="pseudoHeaderSum"/>.</summary>
    public bool VerifyChecksum(uint pseudoHeaderSum) => VerifyChecksum(_message, pseudoHeaderSum);

    /// <summary>
    /// True when the checksum of <paramref name="message"/> verifies against <paramref name="pseudoHeaderSum"/>
    /// (<see cref="InternetChecksum.PseudoHeaderSumV6"/> with next header 58 and the message length).
    /// </summary>
    public static bool VerifyChecksum(ReadOnlySpan<byte> message, uint pseudoHeaderSum) =>
        TransportChecksum.Verifies(InternetChecksum.Sum(message, pseudoHeaderSum));

    /// <summary>Computes and stores the checksum of a whole message (header and payload contiguous).</summary>
    public static void WriteChecksum(Span<byte> message, uint pseudoHeaderSum) => IcmpHeaderLayout.WriteChecksum(message, pseudoHeaderSum);

    /// <summary>
    /// Computes and stores the checksum when the payload lives elsewhere: <paramref name="header"/> is the
    /// 8-byte header and <paramref name="payloadSum"/> is <see cref="InternetChecksum.Sum(System.ReadOnlySpan{byte}, uint)"/> of the payload.
    /// </summary>
    public static void WriteChecksum(Span<byte> header, uint pseudoHeaderSum, uint payloadSum) =>
        IcmpHeaderLayout.WriteChecksum(header, pseudoHeaderSum, payloadSum);

    /// <summary>Overwrites the checksum field.</summary>
    public static void SetChecksum(Span<byte> header, ushort checksum) => IcmpHeaderLayout.SetChecksum(header, checksum);
}
