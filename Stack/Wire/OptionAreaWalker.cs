// The type-length-value walk shared by the IPv4 and IPv6 option readers (RFC 791 §3.1, RFC 8200 §4.2).
namespace NetStack.Wire;

/// <summary>
/// Walks an option area of type-length-value options one option at a time, without allocating, and stops
/// with <see cref="WireError.BadOption"/> when a length octet is missing or an option runs past the area.
/// The two IP families differ only in what the length octet counts and which types stand alone; the public
/// readers (<see cref="Ipv4OptionReader"/>, <see cref="Ipv6OptionReader"/>) give the options their meaning.
/// </summary>
internal ref struct OptionAreaWalker
{
    private readonly ReadOnlySpan<byte> _area;
    private readonly bool _lengthCountsTypeAndLength;
    private readonly int _endOfList;
    private readonly int _singleOctet;
    private int _position;
    private bool _done;

    /// <summary>Starts a walk over <paramref name="area"/>.</summary>
    /// <param name="area">The options, without the header fields around them.</param>
    /// <param name="lengthCountsTypeAndLength">True when the length octet counts the type and length octets
    /// too (IPv4, RFC 791 §3.1), false when it counts the data only (IPv6, RFC 8200 §4.2).</param>
    /// <param name="endOfList">A single-octet type after which the rest is padding, or -1 for none.</param>
    /// <param name="singleOctet">Another single-octet type (NOP, Pad1), or -1 for none.</param>
    public OptionAreaWalker(ReadOnlySpan<byte> area, bool lengthCountsTypeAndLength, int endOfList, int singleOctet)
    {
        _area = area;
        _lengthCountsTypeAndLength = lengthCountsTypeAndLength;
        _endOfList = endOfList;
        _singleOctet = singleOctet;
        _position = 0;
        _done = false;
        Offset = 0;
        Error = WireError.None;
    }

    /// <summary>Offset in the area of the option the last successful <see cref="Next"/> returned.</summary>
    public int Offset { get; private set; }

    /// <summary><see cref="WireError.BadOption"/> once the walk stopped on a malformed option.</summary>
    public WireError Error { get; private set; }

    /// <summary>The next option's type and data; false at the end, after the end-of-list type, or on an error.</summary>
    public bool Next(out byte type, out ReadOnlySpan<byte> data)
    {
        data = default;
        type = 0;
        if (_done || _position >= _area.Length)
        {
            _done = true;
            return false;
        }
        type = _area[_position];
        Offset = _position;
        if (type == _endOfList || type == _singleOctet)
        {
            _position++;
            _done = type == _endOfList;
            return true;
        }
        int remaining = _area.Length - _position;
        if (remaining < 2)
        {
            return Fail();
        }
        int lengthOctet = _area[_position + 1];
        int size = _lengthCountsTypeAndLength ? lengthOctet : 2 + lengthOctet;
        if (size < 2 || size > remaining)
        {
            return Fail();
        }
        data = _area.Slice(_position + 2, size - 2);
        _position += size;
        return true;
    }

    private bool Fail()
    {
        _done = true;
        Error = WireError.BadOption;
        return false;
    }
}
