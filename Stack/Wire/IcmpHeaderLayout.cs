// The eight bytes every ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.1) message starts with: type, code, checksum
// and four type-specific bytes. Both views and both reprs read and write through these offsets.
using System.Buffers.Binary;
using NetStack.Checksums;

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

    /// <summary>False with <see cref="WireError.Truncated"/> when <paramref name="buffer"/> cannot hold the header.</summary>
    public static bool HoldsHeader(ReadOnlySpan<byte> buffer, out WireError error)
    {
        error = buffer.Length < HeaderLength ? WireError.Truncated : WireError.None;
        return error == WireError.None;
    }

    /// <summary>Computes and stores the checksum of a whole message over <paramref name="initial"/> (a pseudo-header sum, or 0).</summary>
    public static void WriteChecksum(Span<byte> message, uint initial)
    {
        SetChecksum(message, 0);
        SetChecksum(message, InternetChecksum.Compute(message, initial));
    }

    /// <summary>Computes and stores the checksum of the header at <paramref name="header"/> whose payload, elsewhere, sums to <paramref name="payloadSum"/>.</summary>
    public static void WriteChecksum(Span<byte> header, uint initial, uint payloadSum)
    {
        SetChecksum(header, 0);
        SetChecksum(header, InternetChecksum.Compute(header[..HeaderLength], InternetChecksum.Add(initial, payloadSum)));
    }

    /// <summary>Overwrites the checksum field.</summary>
    public static void SetChecksum(Span<byte> header, ushort checksum) => BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], checksum);
}
