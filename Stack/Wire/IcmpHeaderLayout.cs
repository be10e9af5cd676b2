// The eight bytes every ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.1) message starts with: type, code, checksum
// and four type-specific bytes. Both views and both reprs read and write through these offsets.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>The common ICMP header layout, shared by <see cref="IcmpV4Header"/> and <see cref="IcmpV6Header"/>.</summary>
internal static class IcmpHeaderLayout
{
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;
    public const int RestOfHeaderOffset = 4;
    public const int HeaderLength = 8;

    /// <summary>Writes the eight header bytes with checksum 0.</summary>
    public static void Write(Span<byte> buffer, byte type, byte code, uint restOfHeader)
    {
        Span<byte> header = buffer[..HeaderLength];
        header[TypeOffset] = type;
        header[CodeOffset] = code;
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(header[RestOfHeaderOffset..], restOfHeader);
    }
}
