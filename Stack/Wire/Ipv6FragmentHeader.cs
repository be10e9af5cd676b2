// IPv6 fragment header (RFC 8200 §4.5): next header, reserved, 13-bit offset in 8-octet units, 2 reserved
// bits, M flag, 32-bit identification.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// A checked view of an 8-byte fragment header. The reserved fields are exposed, not checked (RFC 8200
/// §4.5: ignored on reception). A header with offset 0 and M clear is an atomic fragment (RFC 6946).
/// </summary>
public readonly ref struct Ipv6FragmentHeader
{
    /// <summary>Length of the fragment header.</summary>
    public const int Length = 8;
    /// <summary>Largest fragment offset in bytes (13 bits of 8-byte units).</summary>
    public const int MaxFragmentOffset = 0x1FFF * 8;
    /// <summary>
    /// The offset table (RFC 8200 §4.5), shared by the view, its setter and <see cref="Ipv6FragmentRepr.Emit"/>:
    /// next header, the reserved octet, the 16-bit word of offset, two reserved bits and M, the identification.
    /// </summary>
    public const int NextHeaderOffset = Ipv6ExtensionHeader.NextHeaderOffset, ReservedOffset = 1, FragmentOffsetField = 2, IdentificationOffset = 4;

    /// <summary>
    /// The bits of the offset word: the fragment offset (already a byte count: 8-octet units shifted left by 3), the
    /// two reserved bits, the M flag.
    /// </summary>
    public const ushort FragmentOffsetMask = 0xFFF8, ReservedBitsMask = 0x0006, MoreFragmentsBit = 0x0001;

    private readonly ReadOnlySpan<byte> _header;

    private Ipv6FragmentHeader(ReadOnlySpan<byte> header) => _header = header;

    /// <summary>Makes a view over the header at the start of <paramref name="buffer"/>; <see cref="WireError.Truncated"/> below 8 bytes.</summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out Ipv6FragmentHeader header, out WireError error)
    {
        header = default;
        if (buffer.Length < Length)
        {
            error = WireError.Truncated;
            return false;
        }
        header = new Ipv6FragmentHeader(buffer[..Length]);
        error = WireError.None;
        return true;
    }

    /// <summary>Type of the first header of the fragmentable part.</summary>
    public IpProtocol NextHeader => (IpProtocol)_header[NextHeaderOffset];

    /// <summary>The reserved octet after next header.</summary>
    public byte Reserved => _header[ReservedOffset];

    private ushort OffsetWord => BinaryPrimitives.ReadUInt16BigEndian(_header[FragmentOffsetField..]);

    /// <summary>Fragment offset in bytes (the field is in 8-byte units).</summary>
    public int FragmentOffset => OffsetWord & FragmentOffsetMask;

    /// <summary>The two reserved bits before the M flag.</summary>
    public int ReservedBits => (OffsetWord & ReservedBitsMask) >> 1;

    /// <summary>The M flag: more fragments follow.</summary>
    public bool MoreFragments => (OffsetWord & MoreFragmentsBit) != 0;

    /// <summary>Identification of the original packet.</summary>
    public uint Identification => BinaryPrimitives.ReadUInt32BigEndian(_header[IdentificationOffset..]);

    /// <summary>True for an atomic fragment: offset 0 and M clear (RFC 6946 §4).</summary>
    public bool IsAtomic => (OffsetWord & (FragmentOffsetMask | MoreFragmentsBit)) == 0;

    /// <summary>The 8 header bytes.</summary>
    public ReadOnlySpan<byte> Header => _header;

    /// <summary>
    /// Overwrites the offset (bytes, a multiple of 8; lower bits dropped) and M flag of the fragment header at
    /// the start of <paramref name="header"/>, clearing the reserved bits (fragmentation reuses one template).
    /// </summary>
    public static void SetFragment(Span<byte> header, int fragmentOffset, bool moreFragments) =>
        BinaryPrimitives.WriteUInt16BigEndian(header[FragmentOffsetField..], OffsetWordOf(fragmentOffset, moreFragments));

    /// <summary>The offset word for <paramref name="fragmentOffset"/> bytes (lower 3 bits dropped) and the M flag, reserved bits clear.</summary>
    internal static ushort OffsetWordOf(int fragmentOffset, bool moreFragments) =>
        (ushort)((fragmentOffset & FragmentOffsetMask) | (moreFragments ? MoreFragmentsBit : 0));
}
