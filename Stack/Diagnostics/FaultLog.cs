// Layer: diagnostics. What the packet path's exception boundaries report to (docs/ARCHITECTURE.md §6): a fault — an
// exception out of protocol work on one packet, or out of one timer callback — costs that packet or that callback,
// never the thread that ran it. The boundary counts it by reason; this logs it at most once per interval, with the
// packet's bytes in hex at debug level, so a packet that trips a bug on every arrival cannot flood the log.
using Microsoft.Extensions.Logging;
using NetStack.Buffers;

namespace NetStack.Diagnostics;

/// <summary>
/// The log of one exception boundary: the first fault in an interval is logged as an error with its exception (and,
/// when debug logging is on, the packet it was working on in hex); the rest are counted and reported with the next
/// message. Lock-free; safe from any thread; never throws.
/// </summary>
internal sealed class FaultLog(ILogger logger, TimeProvider clock, string where)
{
    /// <summary>Most bytes of a packet dumped in hex (an IP packet's headers and the start of its payload).</summary>
    internal const int MaxDumpBytes = 2048;

    private LogThrottle _throttle = new();

    /// <summary>
    /// True for the exceptions a boundary catches: every exception but those that say the process itself is lost (a
    /// boundary that swallowed those would only hide where it went down).
    /// </summary>
    internal static bool Catches(Exception e) => e is not (OutOfMemoryException or AccessViolationException);

    /// <summary>Records one fault; logs it when the interval since the last message has passed.</summary>
    /// <param name="e">What was thrown.</param>
    /// <param name="packet">The packet the work was on, when the boundary still owns (or borrows) it; else null.</param>
    internal void Report(Exception e, PacketBuffer? packet = null)
    {
        if (!_throttle.TryPass(clock, out long since))
        {
            return;
        }
        try
        {
            logger.LogError(e, "Processing fault in {Where}: the packet or timer run is dropped, the path goes on ({Suppressed} more faults here since the last message)",
                where, since);
            if (packet is not null && logger.IsEnabled(LogLevel.Debug))
            {
                logger.LogDebug("Processing fault in {Where}: the packet ({Length} bytes, first {Dumped} in hex): {Hex}",
                    where, packet.Length, Math.Min(packet.Length, MaxDumpBytes), Hex(packet));
            }
        }
        catch (Exception failure) when (Catches(failure))
        {
            // A logger that throws, or a packet a bug left unreadable: the boundary must still return.
        }
    }

    /// <summary>The first <see cref="MaxDumpBytes"/> bytes of <paramref name="packet"/> in hex.</summary>
    internal static string Hex(PacketBuffer packet)
    {
        int length = Math.Min(packet.Length, MaxDumpBytes);
        byte[] bytes = new byte[length]; // the rare path: a fault, once an interval
        packet.CopyTo(0, bytes);
        return Convert.ToHexString(bytes);
    }
}
