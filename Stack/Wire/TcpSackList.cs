// Up to four SACK blocks held inline (RFC 2018 §3: at most 4 fit in the 40-byte option area).
namespace NetStack.Wire;

/// <summary>
/// Up to <see cref="Capacity"/> SACK blocks stored inline (no allocation). Equality compares the count
/// and the blocks in order.
/// </summary>
public struct TcpSackList : IEquatable<TcpSackList>
{
    /// <summary>Most blocks a SACK option can carry (RFC 2018 §3).</summary>
    public const int Capacity = 4;

    private TcpSackBlock _b0, _b1, _b2, _b3;
    private int _count;

    /// <summary>Number of blocks held.</summary>
    public readonly int Count => _count;

    /// <summary>The block at <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside 0..Count-1.</exception>
    public readonly TcpSackBlock this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _count);
            return index switch
            {
                0 => _b0,
                1 => _b1,
                2 => _b2,
                _ => _b3,
            };
        }
    }

    /// <summary>Appends a block; false when the list already holds <see cref="Capacity"/> blocks.</summary>
    public bool TryAdd(TcpSackBlock block)
    {
        switch (_count)
        {
            case 0: _b0 = block; break;
            case 1: _b1 = block; break;
            case 2: _b2 = block; break;
            case 3: _b3 = block; break;
            default: return false;
        }
        _count++;
        return true;
    }

    /// <summary>Removes every block.</summary>
    public void Clear() => this = default;

    /// <inheritdoc/>
    public readonly bool Equals(TcpSackList other)
    {
        if (_count != other._count)
        {
            return false;
        }
        for (int i = 0; i < _count; i++)
        {
            if (this[i] != other[i])
            {
                return false;
            }
        }
        return true;
    }

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is TcpSackList other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(_count);
        for (int i = 0; i < _count; i++)
        {
            hash.Add(this[i]);
        }
        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override readonly string ToString()
    {
        var parts = new string[_count];
        for (int i = 0; i < _count; i++)
        {
            parts[i] = $"{this[i].Left}-{this[i].Right}";
        }
        return "[" + string.Join(", ", parts) + "]";
    }

    /// <summary>Equality of count and blocks.</summary>
    public static bool operator ==(TcpSackList left, TcpSackList right) => left.Equals(right);

    /// <summary>Inequality of count or blocks.</summary>
    public static bool operator !=(TcpSackList left, TcpSackList right) => !left.Equals(right);
}
