// Allocation-free walker over the TLV options of a hop-by-hop or destination options header (RFC 8200 §4.2).
namespace NetStack.Wire;

/// <summary>
/// Walks the options area of a hop-by-hop or destination options header one option at a time without
/// allocating (same use as <see cref="Ipv4OptionReader"/>). Yields every option, Pad1 and PadN included
/// (<see cref="Ipv6Option.IsPadding"/>). It stops with <see cref="Error"/> set to
/// <see cref="WireError.BadOption"/> when a length octet is missing or the data runs past the area. It does
/// not judge padding contents nor act on unrecognised types: that is the stack's policy (RFC 8200 §4.2).
/// </summary>
public ref struct Ipv6OptionReader
{
    private OptionAreaWalker _walker;

    /// <summary>Starts a walk over <paramref name="options"/> (the header's bytes after next header and length).</summary>
    public Ipv6OptionReader(ReadOnlySpan<byte> options)
    {
        _walker = new OptionAreaWalker(options, lengthCountsTypeAndLength: false, endOfList: -1, singleOctet: Ipv6Option.Pad1);
        Current = default;
    }

    /// <summary>The option found by the last successful <see cref="MoveNext"/>.</summary>
    public Ipv6Option Current { get; private set; }

    /// <summary>Offset of <see cref="Current"/> within the options area.</summary>
    public readonly int CurrentOffset => _walker.Offset;

    /// <summary><see cref="WireError.BadOption"/> when the walk stopped on a malformed option, else <see cref="WireError.None"/>.</summary>
    public readonly WireError Error => _walker.Error;

    /// <summary>Advances to the next option; false at the end of the area or on an error.</summary>
    public bool MoveNext()
    {
        bool found = _walker.Next(out byte type, out ReadOnlySpan<byte> data);
        Current = found ? new Ipv6Option(type, data) : default;
        return found;
    }

    /// <summary>
    /// Walks the whole of <paramref name="options"/>; false with <see cref="WireError.BadOption"/> when any
    /// option overruns the area.
    /// </summary>
    public static bool Validate(ReadOnlySpan<byte> options, out WireError error)
    {
        var reader = new Ipv6OptionReader(options);
        while (reader.MoveNext())
        {
        }
        error = reader.Error;
        return error == WireError.None;
    }
}
