// Layer: diagnostics. Every message the stack logs, as LoggerMessage source-generated methods: each checks
// IsEnabled before it formats or boxes anything, so a disabled level costs one interface call and no
// allocation; callers pass values (enums, structs), never strings built for the message.
using Microsoft.Extensions.Logging;
using NetStack.Tcp;

namespace NetStack.Diagnostics;

/// <summary>The stack's log messages (event ids 1xx: limits and drops, 2xx: TCP).</summary>
internal static partial class StackLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Limit reached: {What} ({Suppressed} more times since the last message)")]
    public static partial void LimitReached(this ILogger logger, string what, long suppressed);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "{Stack}: limit reached: {What} ({Suppressed} more times since the last message)")]
    public static partial void LimitReached(this ILogger logger, string stack, string what, long suppressed);

    [LoggerMessage(EventId = 102, Level = LogLevel.Trace, Message = "{Stack}: {Layer} drop: {Reason} ({Count})")]
    public static partial void Dropped(this ILogger logger, string stack, string layer, string reason, long count);

    [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "{Stack}: TCP {Connection} {OldState} -> {NewState}")]
    public static partial void TcpStateChanged(this ILogger logger, string stack, TcpFourTuple connection, TcpState oldState, TcpState newState);

    [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "{Stack}: TCP {Connection} failed in {State}: {Error}")]
    public static partial void TcpConnectionFailed(this ILogger logger, string stack, TcpFourTuple connection, TcpState state, System.Net.Sockets.SocketError error);
}
