// Layer: diagnostics. The once-per-interval gate shared by the logs that must never write per packet (LimitLog,
// FaultLog; docs/ARCHITECTURE.md §6): the first event in an interval passes, the rest are only counted.
namespace NetStack.Diagnostics;

/// <summary>
/// Lets one event through per <see cref="Interval"/> and counts the ones it holds back. Lock-free; safe from any
/// thread (a mutable struct: keep it in a field, never copy it).
/// </summary>
internal struct LogThrottle
{
    /// <summary>Least time between two messages.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private long _next;
    private long _suppressed;

    /// <summary>A gate that lets the first event through.</summary>
    public LogThrottle() => _next = long.MinValue;

    /// <summary>
    /// True when this event should be logged (the interval since the last logged one has passed), with how many
    /// were held back meanwhile; false when it was only counted.
    /// </summary>
    internal bool TryPass(TimeProvider clock, out long suppressed)
    {
        long now = clock.GetTimestamp();
        long next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + (long)(Interval.TotalSeconds * clock.TimestampFrequency), next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }
        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }
}
