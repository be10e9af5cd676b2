// IPv4 header representation (RFC 791 §3.1) and its emitter.
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// The IPv4 header fields the stack uses, options kept as raw bytes (up to 40, inline: no allocation).
/// <see cref="TryParse"/> reads a <see cref="Ipv4Header"/> (it neither verifies the checksum nor walks the
/// options; see <see cref="Ipv4Header.VerifyChecksum()"/> and <see cref="Ipv4Header.ValidateOptions"/>);
/// <see cref="Emit"/> writes the header, options and a fresh checksum. Fields wider than their wire field
/// are cut to it on emit (DSCP 6 bits, ECN 2 bits, fragment offset in 8-byte units); the reserved flag is
/// not kept and emits as zero. The payload is not part of the repr.
/// </summary>
public record struct Ipv4Repr
{
    /// <summary>Source address as a number (big-endian reading of the four bytes).</summary>
    public uint Source;
    /// <summary>Destination address as a number (big-endian reading of the four bytes).</summary>
    public uint Destination;
    /// <summary>Protocol of the payload.</summary>
    public IpProtocol Protocol;
    /// <summary>Time to live.</summary>
    public byte TimeToLive;
    /// <summary>Differentiated services code point (0..63).</summary>
    public byte Dscp;
    /// <summary>Explicit congestion notification codepoint (0..3).</summary>
    public byte Ecn;
    /// <summary>Identification field.</summary>
    public ushort Identification;
    /// <summary>Don't-fragment flag.</summary>
    public bool DontFragment;
    /// <summary>More-fragments flag.</summary>
    public bool MoreFragments;
    /// <summary>Fragment offset in bytes (a multiple of 8, at most <see cref="Ipv4Header.MaxFragmentOffset"/>).</summary>
    public int FragmentOffset;
    /// <summary>Payload length in bytes; the total length emitted is <see cref="HeaderLength"/> + this (at most 65535).</summary>
    public int PayloadLength;

    private OptionBytes _options;
    private byte _optionsLength;

    /// <summary>The option bytes (a multiple of 4, at most 40), empty when there are none.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> Options => ((ReadOnlySpan<byte>)_options)[.._optionsLength];

    /// <summary>
    /// Replaces the option bytes. The caller supplies them already padded (EOL/NOP) to a multiple of 4.
    /// </summary>
    /// <exception cref="ArgumentException">More than 40 bytes or not a multiple of 4 (a builder bug, not untrusted input).</exception>
    public void SetOptions(ReadOnlySpan<byte> options)
    {
        if (options.Length > Ipv4Header.MaxOptionsLength || options.Length % 4 != 0)
        {
            throw new ArgumentException("IPv4 options must be a multiple of 4 bytes, at most 40.", nameof(options));
        }
        _options = default;
        options.CopyTo(_options);
        _optionsLength = (byte)options.Length;
    }

    /// <summary>Header length in bytes: 20 plus the options.</summary>
    public readonly int HeaderLength => Ipv4Header.MinLength + _optionsLength;

    /// <summary>Bytes <see cref="Emit"/> writes: the header with options.</summary>
    public readonly int BufferLength => HeaderLength;

    /// <summary>The total-length field value: header plus payload.</summary>
    public readonly int TotalLength => HeaderLength + PayloadLength;

    /// <summary>True when the repr describes a fragment (MF set or a non-zero offset).</summary>
    public readonly bool IsFragment => MoreFragments || FragmentOffset != 0;

    /// <summary>
    /// Reads the fields of <paramref name="header"/>. Every view <see cref="Ipv4Header.TryCreate(ReadOnlySpan{byte}, out Ipv4Header, out WireError)"/> accepts
    /// parses; the method keeps the shape of the other reprs so a future check has a place to fail.
    /// </summary>
    public static bool TryParse(in Ipv4Header header, out Ipv4Repr repr, out WireError error)
    {
        repr = new Ipv4Repr
        {
            Source = header.Source,
            Destination = header.Destination,
            Protocol = header.Protocol,
            TimeToLive = header.TimeToLive,
            Dscp = header.Dscp,
            Ecn = header.Ecn,
            Identification = header.Identification,
            DontFragment = header.DontFragment,
            MoreFragments = header.MoreFragments,
            FragmentOffset = header.FragmentOffset,
            PayloadLength = header.TotalLength - header.HeaderLength,
        };
        header.Options.CopyTo(repr._options);
        repr._optionsLength = (byte)header.Options.Length;
        error = WireError.None;
        return true;
    }

    /// <summary>
    /// Writes the header (every byte of the first <see cref="BufferLength"/> bytes of
    /// <paramref name="buffer"/>) with a fresh header checksum.
    /// </summary>
    public readonly void Emit(Span<byte> buffer)
    {
        int headerLength = HeaderLength;
        Span<byte> header = buffer[..headerLength];
        header[Ipv4Header.VersionAndIhlOffset] = (byte)(0x40 | (headerLength / 4));
        header[Ipv4Header.DifferentiatedServicesOffset] = (byte)((Dscp << 2) | (Ecn & 0x03));
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Header.TotalLengthOffset..], (ushort)TotalLength);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Header.IdentificationOffset..], Identification);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Header.FragmentOffsetField..],
            Ipv4Header.FlagsAndOffsetOf(DontFragment, MoreFragments, FragmentOffset));
        header[Ipv4Header.TimeToLiveOffset] = TimeToLive;
        header[Ipv4Header.ProtocolOffset] = (byte)Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Header.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(header[Ipv4Header.SourceOffset..], Source);
        BinaryPrimitives.WriteUInt32BigEndian(header[Ipv4Header.DestinationOffset..], Destination);
        Options.CopyTo(header[Ipv4Header.MinLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Header.ChecksumOffset..], InternetChecksum.Compute(header));
    }

    /// <summary>Field-wise equality, options compared by content.</summary>
    public readonly bool Equals(Ipv4Repr other) =>
        Source == other.Source && Destination == other.Destination && Protocol == other.Protocol
        && TimeToLive == other.TimeToLive && Dscp == other.Dscp && Ecn == other.Ecn
        && Identification == other.Identification && DontFragment == other.DontFragment
        && MoreFragments == other.MoreFragments && FragmentOffset == other.FragmentOffset
        && PayloadLength == other.PayloadLength && Options.SequenceEqual(other.Options);

    /// <inheritdoc/>
    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Source);
        hash.Add(Destination);
        hash.Add(Protocol);
        hash.Add(Identification);
        hash.Add(FragmentOffset);
        hash.Add(PayloadLength);
        hash.AddBytes(Options);
        return hash.ToHashCode();
    }

    [InlineArray(Ipv4Header.MaxOptionsLength)]
    private struct OptionBytes
    {
        private byte _element0;
    }
}
