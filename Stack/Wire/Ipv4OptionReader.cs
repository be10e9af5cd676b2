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
    private readonly ReadOnlySpan<byte> _options;
    private int _position;
    private bool _done;

    /// <summary>Starts a walk over <paramref name="options"/> (the bytes between the fixed header and IHL·4).</summary>
    public Ipv4OptionReader(ReadOnlySpan<byte> options)
    {
        _options = options;
        _position = 0;
        _done = false;
        Current = default;
        Error = WireError.None;
    }

    /// <summary>The option found by the last successful <see cref="MoveNext"/>.</summary>
    public Ipv4Option Current { get; private set; }

    /// <summary>Offset of <see cref="Current"/> within the option area.</summary>
    public int CurrentOffset { get; private set; }

    /// <summary><see cref="WireError.BadOption"/> when the walk stopped on a malformed option, else <see cref="WireError.None"/>.</summary>
    public WireError Error { get; private set; }

    /// <summary>Advances to the next option; false at the end of the area, after EOL, or on an error.</summary>
    public bool MoveNext()
    {
        if (_done || _position >= _options.Length)
        {
            _done = true;
            return false;
        }
        byte type = _options[_position];
        CurrentOffset = _position;
        if (type is Ipv4Option.EndOfList or Ipv4Option.NoOperation)
        {
            Current = new Ipv4Option(type, default);
            _position++;
            _done = type == Ipv4Option.EndOfList;
            return true;
        }
        int remaining = _options.Length - _position;
        if (remaining < 2)
        {
            return Fail();
        }
        int length = _options[_position + 1];
        if (length < 2 || length > remaining)
        {
            return Fail();
        }
        Current = new Ipv4Option(type, _options.Slice(_position + 2, length - 2));
        _position += length;
        return true;
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

    private bool Fail()
    {
        _done = true;
        Current = default;
        Error = WireError.BadOption;
        return false;
    }
}
