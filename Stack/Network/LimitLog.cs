// Layer: network. Logs that a limit was reached at most once per interval, with how often it was reached
// meanwhile: limits hit under attack must never log per packet (docs/ARCHITECTURE.md §6).
using Microsoft.Extensions.Logging;

namespace NetStack.Network;

/// <summary>
/// A "limit reached" warning that is written at most once per <see cref="Interval"/>: the first hit in an interval
/// logs, the rest are only counted and reported with the next message. Lock-free; safe from any thread.
/// </summary>
internal sealed class LimitLog(ILogger logger, TimeProvider clock, string what)
{
    /// <summary>Least time between two messages.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private long _next = long.MinValue;
    private long _suppressed;

    /// <summary>Records one hit; logs when the interval since the last message has passed.</summary>
    internal void Hit()
    {
        long now = clock.GetTimestamp();
        long next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + (long)(Interval.TotalSeconds * clock.TimestampFrequency), next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            return;
        }
        long since = Interlocked.Exchange(ref _suppressed, 0);
        logger.LogWarning("Limit reached: {What} ({Suppressed} more times since the last message)", what, since);
    }
}
