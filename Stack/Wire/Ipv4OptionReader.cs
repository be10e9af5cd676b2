// Allocation-free walker over the IPv4 option area (RFC 791 §3.1 "Options").
namespace NetStack.Wire;

/// <summary>
/// Walks an IPv4 option area one option at a time without allocating:
/// <code>
/// var reader = header.GetOptions();
/// while (reader.MoveNext()) { var option = reader.Current; ... }
/// if (reader.Error != WireError.None) { /* malformed */ }
/// </code>
/// Yields EOL (then stops: what follows is padding, RFC 791 §3.1), NOP, and every option with a length
/// octet, unknown types included. It stops with <see cref="Error"/> set to <see cref="WireError.BadOption"/>
/// when a length octet is missing, below 2, or runs past the area. Not a <c>foreach</c> enumerator on
/// purpose: a copy would lose <see cref="Error"/>.
/// </summary>
public ref struct Ipv4OptionReader
{
    private OptionAreaWalker _walker;

    /// <summary>Starts a walk over <paramref name="options"/> (the bytes between the fixed header and IHL·4).</summary>
    public Ipv4OptionReader(ReadOnlySpan<byte> options)
    {
        _walker = new OptionAreaWalker(options, lengthCountsTypeAndLength: true, endOfList: Ipv4Option.EndOfList, singleOctet: Ipv4Option.NoOperation);
        Current = default;
    }

    /// <summary>The option found by the last successful <see cref="MoveNext"/>.</summary>
    public Ipv4Option Current { get; private set; }

    /// <summary>Offset of <see cref="Current"/> within the option area.</summary>
    public readonly int CurrentOffset => _walker.Offset;

    /// <summary><see cref="WireError.BadOption"/> when the walk stopped on a malformed option, else <see cref="WireError.None"/>.</summary>
    public readonly WireError Error => _walker.Error;

    /// <summary>Advances to the next option; false at the end of the area, after EOL, or on an error.</summary>
    public bool MoveNext()
    {
        bool found = _walker.Next(out byte type, out ReadOnlySpan<byte> data);
        Current = found ? new Ipv4Option(type, data) : default;
        return found;
    }

    /// <summary>
    /// Walks the whole of <paramref name="options"/>; false with <see cref="WireError.BadOption"/> when any
    /// option is malformed.
    /// </summary>
    public static bool Validate(ReadOnlySpan<byte> options, out WireError error)
    {
        var reader = new Ipv4OptionReader(options);
        while (reader.MoveNext())
        {
        }
        error = reader.Error;
        return error == WireError.None;
    }
}
