// ICMPv4 message view (RFC 792): type, code, checksum, four bytes whose meaning depends on the type, then
// the echo data or the invoking packet.
using System.Buffers.Binary;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of an ICMPv4 message over a span (everything after the IPv4 header).
/// <see cref="TryCreate"/> only requires the 8-byte header, so every accessor is in bounds for every type;
/// which accessors are meaningful depends on <see cref="Type"/>. The checksum covers the whole message and
/// no pseudo-header (RFC 792).
/// </summary>
public readonly ref struct IcmpV4Header
{
    /// <summary>Length of the ICMPv4 header (type, code, checksum and the four type-specific bytes).</summary>
    public const int HeaderLength = IcmpHeaderLayout.HeaderLength;

    /// <summary>
    /// The offset table (the layout ICMPv4 and ICMPv6 share, RFC 792, RFC 4443 §2.1): type, code, checksum, the four
    /// type-specific bytes, and the echo identifier and sequence number within them. <c>NextHopMtuOffset</c> (fragmentation needed, RFC 1191 §4) and <c>PointerOffset</c> (parameter problem) are within the four type-specific bytes.
    /// </summary>
    public const int TypeOffset = IcmpHeaderLayout.TypeOffset, CodeOffset = IcmpHeaderLayout.CodeOffset, ChecksumOffset = IcmpHeaderLayout.ChecksumOffset,
        RestOfHeaderOffset = IcmpHeaderLayout.RestOfHeaderOffset, IdentifierOffset = 4, SequenceNumberOffset = 6, NextHopMtuOffset = 6, PointerOffset = 4;

    /// <summary>
    /// Largest IPv4 datagram an ICMP error should fill, invoking packet included (RFC 1812 §4.3.2.3: as much
    /// of the original datagram as fits without exceeding 576 bytes).
    /// </summary>
    public const int MaxErrorDatagramLength = 576;

    private readonly ReadOnlySpan<byte> _message;

    private IcmpV4Header(ReadOnlySpan<byte> message) => _message = message;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/>, the whole ICMP message. Fails with
    /// <see cref="WireError.Truncated"/> when it is shorter than 8 bytes.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out IcmpV4Header header, out WireError error)
    {
        header = IcmpHeaderLayout.HoldsHeader(buffer, out error) ? new IcmpV4Header(buffer) : default;
        return error == WireError.None;
    }

    /// <summary>Message type (may be a value <see cref="IcmpV4Type"/> does not name).</summary>
    public IcmpV4Type Type => (IcmpV4Type)_message[TypeOffset];

    /// <summary>Message code.</summary>
    public byte Code => _message[CodeOffset];

    /// <summary>Checksum field as on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_message[ChecksumOffset..]);

    /// <summary>The four type-specific bytes after the checksum, as one big-endian word.</summary>
    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_message[RestOfHeaderOffset..]);

    /// <summary>Echo identifier (bytes 4–5; echo request and reply).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_message[IdentifierOffset..]);

    /// <summary>Echo sequence number (bytes 6–7; echo request and reply).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_message[SequenceNumberOffset..]);

    /// <summary>Next-hop MTU (bytes 6–7) of a fragmentation-needed message (RFC 1191 §4); 0 from old routers.</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_message[NextHopMtuOffset..]);

    /// <summary>Pointer to the offending octet of a parameter problem (byte 4, RFC 792).</summary>
    public byte Pointer => _message[PointerOffset];

    /// <summary>
    /// The bytes after the header: echo data, or for an error the invoking packet's IP header and at least
    /// its first 8 data bytes (RFC 792; parse it with the IPv4 view before trusting it).
    /// </summary>
    public ReadOnlySpan<byte> Payload => _message[HeaderLength..];

    /// <summary>The whole message.</summary>
    public ReadOnlySpan<byte> Message => _message;

    /// <summary>True when the message's checksum verifies.</summary>
    public bool VerifyChecksum() => VerifyChecksum(_message);

    /// <summary>True when the checksum of <paramref name="message"/> (header and payload) verifies.</summary>
    public static bool VerifyChecksum(ReadOnlySpan<byte> message) => TransportChecksum.Verifies(InternetChecksum.Sum(message));

    /// <summary>Computes and stores the checksum of a whole message (header and payload contiguous).</summary>
    public static void WriteChecksum(Span<byte> message) => IcmpHeaderLayout.WriteChecksum(message, 0);

    /// <summary>
    /// Computes and stores the checksum when the payload lives elsewhere: <paramref name="header"/> is the
    /// 8-byte header and <paramref name="payloadSum"/> is <see cref="InternetChecksum.Sum(System.ReadOnlySpan{byte}, uint)"/> of the payload.
    /// </summary>
    public static void WriteChecksum(Span<byte> header, uint payloadSum) => IcmpHeaderLayout.WriteChecksum(header, 0, payloadSum);

    /// <summary>Overwrites the checksum field.</summary>
    public static void SetChecksum(Span<byte> header, ushort checksum) => IcmpHeaderLayout.SetChecksum(header, checksum);
}
