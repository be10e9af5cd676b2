// The command line's logging: `-v/--verbosity LEVEL` (every command) picks the console logger's level, written to
// standard error so that standard output stays the command's own; without it each command keeps its default.
using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace NetStack.Cli;

/// <summary>The <c>-v/--verbosity</c> option and the logger factory it configures.</summary>
internal static class CliLogging
{
    private static ILoggerFactory? s_factory;

    /// <summary>
    /// <c>-v/--verbosity</c>: dotnet's names (q[uiet], m[inimal], n[ormal], d[etailed], diag[nostic]) or a log level
    /// (trace, debug, information, warning, error, critical, none). Recursive: every command takes it.
    /// </summary>
    internal static readonly Option<LogLevel?> Verbosity = new("--verbosity", "-v")
    {
        Description = "Log level on standard error: quiet, minimal, normal, detailed, diagnostic (or trace, debug, information, warning, error). "
            + "detailed shows TCP state changes and connection errors, diagnostic every drop with its reason.",
        Recursive = true,
        HelpName = "level",
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            if (ParseLevel(text) is LogLevel level)
            {
                return level;
            }
            result.AddError($"--verbosity: '{text}' is not a level (quiet, minimal, normal, detailed, diagnostic, or trace, debug, information, warning, error, critical, none).");
            return null;
        },
    };

    /// <summary>The level <c>-v</c> asked for, or null when it was not given (set by <see cref="Program"/> before a command runs).</summary>
    internal static LogLevel? Level { get; set; }

    /// <summary>A level from dotnet's verbosity names or a <see cref="LogLevel"/> name; null when it is neither.</summary>
    internal static LogLevel? ParseLevel(string text) => text.ToLowerInvariant() switch
    {
        "q" or "quiet" => LogLevel.Error,
        "m" or "minimal" => LogLevel.Warning,
        "n" or "normal" => LogLevel.Information,
        "d" or "detailed" => LogLevel.Debug,
        "diag" or "diagnostic" => LogLevel.Trace,
        "info" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        var name => Enum.TryParse(name, ignoreCase: true, out LogLevel level) && Enum.IsDefined(level) && !int.TryParse(name, out _) ? level : null,
    };

    /// <summary>
    /// The process's console logger factory (created on first use, disposed by <see cref="Flush"/>): at <see cref="Level"/>
    /// when <c>-v</c> was given, else NetStack's categories at <paramref name="netStackDefault"/> and the rest at warning.
    /// </summary>
    internal static ILoggerFactory Factory(LogLevel netStackDefault = LogLevel.Warning)
    {
        if (s_factory is { } existing)
        {
            return existing;
        }
        ILoggerFactory created = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o => o.SingleLine = true);
            b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            if (Level is LogLevel level)
            {
                b.SetMinimumLevel(level);
            }
            else
            {
                b.AddFilter("NetStack", netStackDefault).SetMinimumLevel(LogLevel.Warning);
            }
        });
        ILoggerFactory? raced = Interlocked.CompareExchange(ref s_factory, created, null);
        if (raced is not null)
        {
            created.Dispose();
            return raced;
        }
        return created;
    }

    /// <summary>The console logger factory when <c>-v</c> was given, else null (commands whose default is not to log).</summary>
    internal static ILoggerFactory? FactoryIfAsked => Level is null ? null : Factory();

    /// <summary>Writes what the console logger still queues and releases it (at exit).</summary>
    internal static void Flush() => Interlocked.Exchange(ref s_factory, null)?.Dispose();
}
