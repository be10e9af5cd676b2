// Layer: diagnostics. Logs that a limit was reached at most once per interval, with how often it was reached
// meanwhile: limits hit under attack must never log per packet (docs/ARCHITECTURE.md §6).
using Microsoft.Extensions.Logging;

namespace NetStack.Diagnostics;

/// <summary>
/// A "limit reached" warning that is written at most once per <see cref="LogThrottle.Interval"/>: the first hit in an interval
/// logs, the rest are only counted and reported with the next message. Lock-free; safe from any thread.
/// </summary>
/// <param name="logger">Where the warning goes.</param>
/// <param name="clock">The stack's clock (a manual clock steps the interval in tests).</param>
/// <param name="what">The limit, as the message names it.</param>
/// <param name="stack">The stack's name (<see cref="Network.NetworkStack.Name"/>), when the message should carry it.</param>
internal sealed class LimitLog(ILogger logger, TimeProvider clock, string what, string? stack = null)
{
    private LogThrottle _throttle = new();

    /// <summary>Records one hit; logs when the interval since the last message has passed.</summary>
    internal void Hit()
    {
        if (!_throttle.TryPass(clock, out long since))
        {
            return;
        }
        if (stack is null)
        {
            logger.LimitReached(what, since);
        }
        else
        {
            logger.LimitReached(stack, what, since);
        }
    }
}
