// Allocation-free walker over the TCP option area (RFC 9293 §3.2; RFC 7323 §2.2, §3.2; RFC 2018 §2, §3).
namespace NetStack.Wire;

/// <summary>
/// Walks a TCP option area one option at a time without allocating:
/// <code>
/// var reader = header.GetOptions();
/// while (reader.MoveNext()) { var option = reader.Current; ... }
/// if (reader.Error != WireError.None) { /* drop the segment */ }
/// </code>
/// Yields EOL (then stops: what follows it is padding, RFC 9293 §3.2), NOP, and every option with a length
/// byte, unknown kinds included (callers skip them). It stops with <see cref="Error"/> set to
/// <see cref="WireError.BadOption"/> when a length is 0 or 1, when an option overruns the area (a missing
/// length byte included), or when a known kind has the wrong length (MSS 4, window scale 3, SACK-permitted
/// 2, SACK 2 + 8n with n in 1..4, timestamps 10). Not a <c>foreach</c> enumerator on purpose: a copy would
/// lose <see cref="Error"/>.
/// </summary>
public ref struct TcpOptionReader
{
    private readonly ReadOnlySpan<byte> _options;
    private int _position;
    private bool _done;

    /// <summary>Starts a walk over <paramref name="options"/> (the bytes between the fixed header and the data offset).</summary>
    public TcpOptionReader(ReadOnlySpan<byte> options)
    {
        _options = options;
        _position = 0;
        _done = false;
        Current = default;
        Error = WireError.None;
    }

    /// <summary>The option found by the last successful <see cref="MoveNext"/>.</summary>
    public TcpOption Current { get; private set; }

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
        byte kind = _options[_position];
        if (kind == (byte)TcpOptionKind.EndOfOptions || kind == (byte)TcpOptionKind.NoOperation)
        {
            Current = new TcpOption(kind, default);
            _position++;
            _done = kind == (byte)TcpOptionKind.EndOfOptions;
            return true;
        }
        int remaining = _options.Length - _position;
        if (remaining < 2)
        {
            return Fail();
        }
        int length = _options[_position + 1];
        if (length < 2 || length > remaining || !HasValidLength((TcpOptionKind)kind, length))
        {
            return Fail();
        }
        Current = new TcpOption(kind, _options.Slice(_position + 2, length - 2));
        _position += length;
        return true;
    }

    /// <summary>
    /// Walks the whole area of <paramref name="options"/>; false with <see cref="WireError.BadOption"/> when
    /// any option is malformed.
    /// </summary>
    public static bool Validate(ReadOnlySpan<byte> options, out WireError error)
    {
        var reader = new TcpOptionReader(options);
        while (reader.MoveNext())
        {
        }
        error = reader.Error;
        return error == WireError.None;
    }

    private static bool HasValidLength(TcpOptionKind kind, int length) => kind switch
    {
        TcpOptionKind.MaxSegmentSize => length == TcpOption.MaxSegmentSizeLength,
        TcpOptionKind.WindowScale => length == TcpOption.WindowScaleLength,
        TcpOptionKind.SackPermitted => length == TcpOption.SackPermittedLength,
        TcpOptionKind.Sack => length >= 2 + TcpOption.SackBlockLength && length <= 2 + (TcpOption.SackBlockLength * TcpSackList.Capacity)
            && (length - 2) % TcpOption.SackBlockLength == 0,
        TcpOptionKind.Timestamps => length == TcpOption.TimestampsLength,
        _ => true,
    };

    private bool Fail()
    {
        _done = true;
        Current = default;
        Error = WireError.BadOption;
        return false;
    }
}
