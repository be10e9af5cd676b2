// Layer: transport (TCP). Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): comparisons are made on
// the signed 32-bit difference, so they stay correct across wraparound for values less than 2^31 apart.
namespace NetStack.Tcp;

/// <summary>
/// A TCP sequence number: a 32-bit value compared modulo 2^32 (RFC 9293 §3.4). <c>a &lt; b</c> means that
/// <c>b</c> lies less than 2^31 ahead of <c>a</c>; differences and sums wrap.
/// </summary>
/// <param name="Value">The number as on the wire.</param>
public readonly record struct SequenceNumber(uint Value) : IComparable<SequenceNumber>
{
    /// <summary>Signed distance from <paramref name="other"/> to this number (positive when this is after it).</summary>
    public int DistanceFrom(SequenceNumber other) => unchecked((int)(Value - other.Value));

    /// <summary>This number plus <paramref name="count"/>, wrapping.</summary>
    public SequenceNumber Add(int count) => new(unchecked(Value + (uint)count));

    /// <summary>True when <paramref name="low"/> ≤ this &lt; <paramref name="high"/> (RFC 9293 §3.4, modulo 2^32).</summary>
    public bool InWindow(SequenceNumber low, SequenceNumber high) => unchecked(Value - low.Value) < unchecked(high.Value - low.Value);

    /// <summary>True when <paramref name="low"/> &lt; this ≤ <paramref name="high"/>.</summary>
    public bool InRangeExclusiveInclusive(SequenceNumber low, SequenceNumber high) => this > low && this <= high;

    /// <summary>The later of two numbers.</summary>
    public static SequenceNumber Max(SequenceNumber a, SequenceNumber b) => a > b ? a : b;

    /// <summary>The earlier of two numbers.</summary>
    public static SequenceNumber Min(SequenceNumber a, SequenceNumber b) => a < b ? a : b;

    /// <inheritdoc/>
    public int CompareTo(SequenceNumber other) => Math.Sign(DistanceFrom(other));

    /// <summary>Wrapping addition.</summary>
    public static SequenceNumber operator +(SequenceNumber a, int count) => a.Add(count);

    /// <summary>Wrapping subtraction of a count.</summary>
    public static SequenceNumber operator -(SequenceNumber a, int count) => a.Add(-count);

    /// <summary>Signed distance <c>a − b</c>.</summary>
    public static int operator -(SequenceNumber a, SequenceNumber b) => a.DistanceFrom(b);

    /// <summary>True when <paramref name="a"/> is before <paramref name="b"/>.</summary>
    public static bool operator <(SequenceNumber a, SequenceNumber b) => a.DistanceFrom(b) < 0;

    /// <summary>True when <paramref name="a"/> is after <paramref name="b"/>.</summary>
    public static bool operator >(SequenceNumber a, SequenceNumber b) => a.DistanceFrom(b) > 0;

    /// <summary>True when <paramref name="a"/> is not after <paramref name="b"/>.</summary>
    public static bool operator <=(SequenceNumber a, SequenceNumber b) => a.DistanceFrom(b) <= 0;

    /// <summary>True when <paramref name="a"/> is not before <paramref name="b"/>.</summary>
    public static bool operator >=(SequenceNumber a, SequenceNumber b) => a.DistanceFrom(b) >= 0;

    /// <summary>Wraps a raw value.</summary>
    public static implicit operator SequenceNumber(uint value) => new(value);

    /// <inheritdoc/>
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
