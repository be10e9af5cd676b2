// IPv6 fragment header representation (RFC 8200 §4.5) and its emitter.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// The fields of an IPv6 fragment header. <see cref="Emit"/> writes the 8 bytes with the reserved fields
/// zero (RFC 8200 §4.5); <see cref="TryParse"/> ignores them.
/// </summary>
public record struct Ipv6FragmentRepr
{
    /// <summary>Bytes <see cref="Emit"/> writes.</summary>
    public const int BufferLength = Ipv6FragmentHeader.Length;

    /// <summary>Type of the first header of the fragmentable part.</summary>
    public IpProtocol NextHeader;
    /// <summary>Fragment offset in bytes (a multiple of 8, at most <see cref="Ipv6FragmentHeader.MaxFragmentOffset"/>).</summary>
    public int FragmentOffset;
    /// <summary>The M flag: more fragments follow.</summary>
    public bool MoreFragments;
    /// <summary>Identification of the original packet.</summary>
    public uint Identification;

    /// <summary>Reads the fields of <paramref name="header"/>; every view parses.</summary>
    public static bool TryParse(in Ipv6FragmentHeader header, out Ipv6FragmentRepr repr, out WireError error)
    {
        repr = new Ipv6FragmentRepr
        {
            NextHeader = header.NextHeader,
            FragmentOffset = header.FragmentOffset,
            MoreFragments = header.MoreFragments,
            Identification = header.Identification,
        };
        error = WireError.None;
        return true;
    }

    /// <summary>Writes the 8-byte header into the first <see cref="BufferLength"/> bytes of <paramref name="buffer"/>.</summary>
    public readonly void Emit(Span<byte> buffer)
    {
        Span<byte> header = buffer[..BufferLength];
        header[Ipv6FragmentHeader.NextHeaderOffset] = (byte)NextHeader;
        header[Ipv6FragmentHeader.ReservedOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv6FragmentHeader.FragmentOffsetField..], Ipv6FragmentHeader.OffsetWordOf(FragmentOffset, MoreFragments));
        BinaryPrimitives.WriteUInt32BigEndian(header[Ipv6FragmentHeader.IdentificationOffset..], Identification);
    }
}
