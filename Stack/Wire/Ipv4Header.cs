// IPv4 header view (RFC 791 §3.1): fixed 20 bytes, options up to IHL·4, payload up to the total length.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of an IPv4 packet over a span. <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv4Header, out WireError)"/> checks the version, the
/// IHL (at least 5, within the buffer) and the total length (at least the header, at most the buffer); the
/// view then covers exactly <see cref="TotalLength"/> bytes, so trailing link padding is not payload. It does
/// not verify the header checksum (<see cref="VerifyChecksum()"/>) nor walk the options
/// (<see cref="ValidateOptions"/>), so the stack chooses what to pay for. The static setters rewrite fields of
/// a header already accepted by <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv4Header, out WireError)"/> in place (GRO, GSO, fragmentation); they leave the
/// checksum alone, call <see cref="RecomputeChecksum"/> once after the last change.
/// </summary>
public readonly ref struct Ipv4Header
{
    /// <summary>Lengths: the fixed header (IHL 5), the longest header (IHL 15), the longest option area (RFC 791 §3.1).</summary>
    public const int MinLength = 20, MaxLength = 60, MaxOptionsLength = MaxLength - MinLength;

    /// <summary>
    /// The offset table (RFC 791 §3.1): where each field starts. The view, its setters, <see cref="Ipv4Repr.Emit"/>
    /// and every other reader of IPv4 headers use these. <c>FragmentOffsetField</c> is the 16-bit flags and
    /// fragment-offset word.
    /// </summary>
    public const int VersionAndIhlOffset = 0, DifferentiatedServicesOffset = 1, TotalLengthOffset = 2, IdentificationOffset = 4,
        FragmentOffsetField = 6, TimeToLiveOffset = 8, ProtocolOffset = 9, ChecksumOffset = 10, SourceOffset = 12, DestinationOffset = 16;

    /// <summary>Largest fragment offset in bytes (13 bits of 8-byte units).</summary>
    public const int MaxFragmentOffset = 0x1FFF * 8;

    /// <summary>
    /// The bits of the flags and fragment-offset word: reserved, DF, MF, the offset in 8-byte units, and
    /// <c>FragmentBits</c> (MF and offset: any set makes a fragment, RFC 791 §3.2).
    /// </summary>
    public const ushort ReservedFlagBit = 0x8000, DontFragmentBit = 0x4000, MoreFragmentsBit = 0x2000, FragmentOffsetMask = 0x1FFF,
        FragmentBits = MoreFragmentsBit | FragmentOffsetMask;

    private readonly ReadOnlySpan<byte> _packet;

    private Ipv4Header(ReadOnlySpan<byte> packet) => _packet = packet;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/>, which starts with the IPv4 header. Fails with
    /// <see cref="WireError.Truncated"/> when the buffer is shorter than 20 bytes or than the total length,
    /// <see cref="WireError.BadVersion"/> when the version is not 4, <see cref="WireError.BadHeaderLength"/>
    /// when the IHL is below 5 or past the buffer, and <see cref="WireError.BadTotalLength"/> when the total
    /// length is below the header length. The reserved flag bit is not checked (see <see cref="ReservedFlag"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out Ipv4Header header, out WireError error) =>
        TryCreate(buffer, buffer.Length, out header, out error);

    /// <summary>
    /// Makes a view over the header at the start of <paramref name="head"/>, the first piece of a packet of
    /// <paramref name="packetLength"/> bytes whose payload may continue in other pieces (a
    /// <see cref="Buffers.PacketBuffer"/>'s head): the header, options included, must lie in
    /// <paramref name="head"/> (else <see cref="WireError.BadHeaderLength"/>) and the total length within
    /// <paramref name="packetLength"/> (else <see cref="WireError.Truncated"/>); the other checks are those of
    /// <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv4Header, out WireError)"/>. Every field reads as on the
    /// wire; <see cref="Packet"/> and <see cref="Payload"/> then hold only what the head holds of the packet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> head, int packetLength, out Ipv4Header header, out WireError error)
    {
        header = default;
        if (head.Length < MinLength)
        {
            error = WireError.Truncated;
            return false;
        }
        if (head[VersionAndIhlOffset] >> 4 != 4)
        {
            error = WireError.BadVersion;
            return false;
        }
        int headerLength = GetHeaderLength(head);
        if (headerLength < MinLength || headerLength > head.Length)
        {
            error = WireError.BadHeaderLength;
            return false;
        }
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(head[TotalLengthOffset..]);
        if (totalLength < headerLength)
        {
            error = WireError.BadTotalLength;
            return false;
        }
        if (totalLength > packetLength)
        {
            error = WireError.Truncated;
            return false;
        }
        header = new Ipv4Header(head[..Math.Min(totalLength, head.Length)]);
        error = WireError.None;
        return true;
    }

    /// <summary>The IHL of the header at the start of <paramref name="packet"/> in bytes (IHL × 4), unchecked: for headers already accepted or written by the stack.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GetHeaderLength(ReadOnlySpan<byte> packet) => (packet[VersionAndIhlOffset] & 0x0F) * 4;

    /// <summary>Version field (always 4 in a view).</summary>
    public int Version => _packet[VersionAndIhlOffset] >> 4;

    /// <summary>Internet header length in 32-bit words (5..15).</summary>
    public int Ihl => _packet[VersionAndIhlOffset] & 0x0F;

    /// <summary>Header length in bytes, options included (<see cref="Ihl"/> × 4).</summary>
    public int HeaderLength => Ihl * 4;

    /// <summary>The whole DS field (former type of service): DSCP and ECN.</summary>
    public byte DifferentiatedServices => _packet[DifferentiatedServicesOffset];

    /// <summary>Differentiated services code point (RFC 2474 §3), the upper six bits of the DS field.</summary>
    public byte Dscp => (byte)(DifferentiatedServices >> 2);

    /// <summary>Explicit congestion notification (RFC 3168 §5), the lower two bits of the DS field.</summary>
    public byte Ecn => (byte)(DifferentiatedServices & 0x03);

    /// <summary>Total length of the packet (header and payload) in bytes.</summary>
    public int TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_packet[TotalLengthOffset..]);

    /// <summary>Identification field.</summary>
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_packet[IdentificationOffset..]);

    private ushort FlagsAndOffset => BinaryPrimitives.ReadUInt16BigEndian(_packet[FragmentOffsetField..]);

    /// <summary>The reserved flag bit (RFC 791 §3.1: must be zero; RFC 3514 aside). Exposed, not rejected.</summary>
    public bool ReservedFlag => (FlagsAndOffset & ReservedFlagBit) != 0;

    /// <summary>Don't-fragment flag (DF).</summary>
    public bool DontFragment => (FlagsAndOffset & DontFragmentBit) != 0;

    /// <summary>More-fragments flag (MF).</summary>
    public bool MoreFragments => (FlagsAndOffset & MoreFragmentsBit) != 0;

    /// <summary>Fragment offset in bytes (the field is in 8-byte units, RFC 791 §3.1).</summary>
    public int FragmentOffset => (FlagsAndOffset & FragmentOffsetMask) * 8;

    /// <summary>True when this packet is a fragment: MF set or a non-zero fragment offset (RFC 791 §3.2).</summary>
    public bool IsFragment => (FlagsAndOffset & FragmentBits) != 0;

    /// <summary>Time to live.</summary>
    public byte TimeToLive => _packet[TimeToLiveOffset];

    /// <summary>Protocol of the payload.</summary>
    public IpProtocol Protocol => (IpProtocol)_packet[ProtocolOffset];

    /// <summary>Header checksum as it is on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_packet[ChecksumOffset..]);

    /// <summary>Source address, 4 bytes in network order.</summary>
    public ReadOnlySpan<byte> SourceAddress => _packet.Slice(SourceOffset, 4);

    /// <summary>Destination address, 4 bytes in network order.</summary>
    public ReadOnlySpan<byte> DestinationAddress => _packet.Slice(DestinationOffset, 4);

    /// <summary>Source address as a number (the four bytes read big-endian: 10.0.0.1 is 0x0A000001).</summary>
    public uint Source => BinaryPrimitives.ReadUInt32BigEndian(_packet[SourceOffset..]);

    /// <summary>Destination address as a number (the four bytes read big-endian).</summary>
    public uint Destination => BinaryPrimitives.ReadUInt32BigEndian(_packet[DestinationOffset..]);

    /// <summary>The option bytes between the fixed header and IHL·4, possibly empty.</summary>
    public ReadOnlySpan<byte> Options => _packet[MinLength..HeaderLength];

    /// <summary>The header bytes, options included.</summary>
    public ReadOnlySpan<byte> Header => _packet[..HeaderLength];

    /// <summary>
    /// The payload: from the end of the header to the total length (link padding excluded); for a view over a
    /// head, the part of it the head holds.
    /// </summary>
    public ReadOnlySpan<byte> Payload => _packet[HeaderLength..];

    /// <summary>The packet: header and payload, exactly <see cref="TotalLength"/> bytes (for a view over a head, the part the head holds).</summary>
    public ReadOnlySpan<byte> Packet => _packet;

    /// <summary>An allocation-free walker over <see cref="Options"/>.</summary>
    public Ipv4OptionReader GetOptions() => new(Options);

    /// <summary>
    /// Walks the options (RFC 791 §3.1 option format); false with <see cref="WireError.BadOption"/> when one
    /// has a length below 2 or overruns the option area. Not done by <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv4Header, out WireError)"/> so the stack can
    /// choose whether a malformed option drops the packet.
    /// </summary>
    public bool ValidateOptions(out WireError error) => Ipv4OptionReader.Validate(Options, out error);

    /// <summary>True when the header checksum verifies (RFC 791 §3.1, RFC 1071).</summary>
    public bool VerifyChecksum() => VerifyChecksum(Header);

    /// <summary>
    /// True when the ones'-complement sum of <paramref name="header"/> (exactly the header bytes, IHL·4 long)
    /// is 0xFFFF, i.e. its checksum field verifies.
    /// </summary>
    public static bool VerifyChecksum(ReadOnlySpan<byte> header) => TransportChecksum.Verifies(InternetChecksum.Sum(header));

    /// <summary>
    /// Recomputes the header checksum of the header at the start of <paramref name="packet"/> over IHL·4
    /// bytes (a 20..60 byte sum). The span must hold the whole header.
    /// </summary>
    public static void RecomputeChecksum(Span<byte> packet)
    {
        Span<byte> header = packet[..GetHeaderLength(packet)];
        SetChecksum(header, 0);
        SetChecksum(header, InternetChecksum.Compute(header));
    }

    /// <summary>Overwrites the header checksum field (an incremental update, RFC 1624).</summary>
    public static void SetChecksum(Span<byte> packet, ushort checksum) =>
        BinaryPrimitives.WriteUInt16BigEndian(packet[ChecksumOffset..], checksum);

    /// <summary>Overwrites the total-length field (GRO merge, GSO split, fragmentation); checksum left to the caller.</summary>
    public static void SetTotalLength(Span<byte> packet, ushort totalLength) =>
        BinaryPrimitives.WriteUInt16BigEndian(packet[TotalLengthOffset..], totalLength);

    /// <summary>Overwrites the identification field (GSO split gives segment i the ID + i); checksum left to the caller.</summary>
    public static void SetIdentification(Span<byte> packet, ushort identification) =>
        BinaryPrimitives.WriteUInt16BigEndian(packet[IdentificationOffset..], identification);

    /// <summary>
    /// Overwrites the DF and MF flags and the fragment offset (in bytes, a multiple of 8 up to
    /// <see cref="MaxFragmentOffset"/>; lower bits are dropped), keeping the reserved bit; checksum left to the caller.
    /// </summary>
    public static void SetFragment(Span<byte> packet, bool dontFragment, bool moreFragments, int fragmentOffset)
    {
        Span<byte> field = packet[FragmentOffsetField..];
        ushort word = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(field) & ReservedFlagBit);
        BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)(word | FlagsAndOffsetOf(dontFragment, moreFragments, fragmentOffset)));
    }

    /// <summary>The flags and fragment-offset word for DF, MF and an offset in bytes (lower 3 bits dropped), reserved bit clear.</summary>
    internal static ushort FlagsAndOffsetOf(bool dontFragment, bool moreFragments, int fragmentOffset) =>
        (ushort)((((uint)fragmentOffset >> 3) & FragmentOffsetMask) | (dontFragment ? DontFragmentBit : 0u) | (moreFragments ? MoreFragmentsBit : 0u));

    /// <summary>Overwrites the TTL (forwarding); checksum left to the caller.</summary>
    public static void SetTimeToLive(Span<byte> packet, byte timeToLive) => packet[TimeToLiveOffset] = timeToLive;
}
