// IPv6 hop-by-hop (RFC 8200 §4.3) and destination options (RFC 8200 §4.6) headers: next header, length in
// 8-octet units not counting the first 8, then TLV options.
namespace NetStack.Wire;

/// <summary>
/// A checked view of a hop-by-hop or destination options header (the two share a format, RFC 8200 §4.3,
/// §4.6). <see cref="TryCreate"/> checks that the buffer holds the length the header claims; the options are
/// walked by <see cref="GetOptions"/> or checked by <see cref="ValidateOptions"/>. <see cref="Emit"/> builds
/// one from option bytes, padding it to a multiple of 8 with Pad1 or PadN.
/// </summary>
public readonly ref struct Ipv6OptionsHeader
{
    /// <summary>Shortest header: 8 bytes (length field 0).</summary>
    public const int MinLength = 8;
    /// <summary>Longest header: 2048 bytes (length field 255).</summary>
    public const int MaxLength = 2048;

    private readonly ReadOnlySpan<byte> _header;

    private Ipv6OptionsHeader(ReadOnlySpan<byte> header) => _header = header;

    /// <summary>
    /// Makes a view over the header at the start of <paramref name="buffer"/>. Fails with
    /// <see cref="WireError.Truncated"/> when fewer than 2 bytes are left and with
    /// <see cref="WireError.BadHeaderLength"/> when the length field runs past the buffer.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out Ipv6OptionsHeader header, out WireError error)
    {
        if (!Ipv6ExtensionHeader.TryGetLength(buffer, out int length, out error))
        {
            header = default;
            return false;
        }
        header = new Ipv6OptionsHeader(buffer[..length]);
        return true;
    }

    /// <summary>Type of the next header.</summary>
    public IpProtocol NextHeader => (IpProtocol)_header[Ipv6ExtensionHeader.NextHeaderOffset];

    /// <summary>The length field: 8-octet units after the first 8.</summary>
    public byte HeaderExtensionLength => _header[Ipv6ExtensionHeader.LengthOffset];

    /// <summary>Length of the header in bytes.</summary>
    public int Length => _header.Length;

    /// <summary>The options area: the header after next header and length.</summary>
    public ReadOnlySpan<byte> Options => _header[Ipv6ExtensionHeader.PrefixLength..];

    /// <summary>The whole header.</summary>
    public ReadOnlySpan<byte> Header => _header;

    /// <summary>An allocation-free walker over <see cref="Options"/>.</summary>
    public Ipv6OptionReader GetOptions() => new(Options);

    /// <summary>Walks the options; false with <see cref="WireError.BadOption"/> when one overruns the area.</summary>
    public bool ValidateOptions(out WireError error) => Ipv6OptionReader.Validate(Options, out error);

    /// <summary>Bytes <see cref="Emit"/> writes for <paramref name="optionsLength"/> bytes of options: 2 + options rounded up to 8.</summary>
    public static int GetLength(int optionsLength) => (Ipv6ExtensionHeader.PrefixLength + optionsLength + 7) & ~7;

    /// <summary>
    /// Writes a header holding <paramref name="options"/> (complete TLVs, as they go on the wire) into the
    /// first <see cref="GetLength"/> bytes of <paramref name="buffer"/>, then pads to a multiple of 8 with a
    /// Pad1 or a PadN of zeros (RFC 8200 §4.2).
    /// </summary>
    /// <exception cref="ArgumentException">The header would exceed 2048 bytes (a builder bug, not untrusted input).</exception>
    public static void Emit(Span<byte> buffer, IpProtocol nextHeader, ReadOnlySpan<byte> options)
    {
        int length = GetLength(options.Length);
        if (length > MaxLength)
        {
            throw new ArgumentException("An IPv6 options header holds at most 2046 bytes of options.", nameof(options));
        }
        Span<byte> header = buffer[..length];
        header[Ipv6ExtensionHeader.NextHeaderOffset] = (byte)nextHeader;
        header[Ipv6ExtensionHeader.LengthOffset] = (byte)((length / 8) - 1);
        options.CopyTo(header[Ipv6ExtensionHeader.PrefixLength..]);
        WritePadding(header[(Ipv6ExtensionHeader.PrefixLength + options.Length)..]);
    }

    /// <summary>Fills <paramref name="padding"/> with one Pad1 (1 byte) or one PadN (2 or more bytes, data zero).</summary>
    internal static void WritePadding(Span<byte> padding)
    {
        if (padding.Length == 1)
        {
            padding[0] = Ipv6Option.Pad1;
        }
        else if (padding.Length >= 2)
        {
            padding.Clear();
            padding[0] = Ipv6Option.PadN;
            padding[1] = (byte)(padding.Length - 2);
        }
    }
}
