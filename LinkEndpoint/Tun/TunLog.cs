using Microsoft.Extensions.Logging;

namespace NetStack.Link.Tun;

/// <summary>Source-generated log messages of the TUN layer (rare events only).</summary>
internal static partial class TunLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "TUN {Device}: {Operation} failed: {Error}")]
    public static partial void LogTunError(this ILogger logger, string operation, string device, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TUN {Device}: {Message}")]
    public static partial void LogTunWarning(this ILogger logger, string device, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "TUN {Device}: {Message}")]
    public static partial void LogTunInfo(this ILogger logger, string device, string message);
}
