// `netstack run`: a logger factory that writes warnings and errors as single lines on standard error — the
// standard output belongs to CMD, a run prints no progress, and the console logger's start-up cost is not paid.
using Microsoft.Extensions.Logging;

namespace NetStack.Cli.Run;

/// <summary>Writes log entries at or above a level as "netstack run: category: message" on standard error.</summary>
internal sealed class StandardErrorLoggerFactory(LogLevel minimum) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Console.Error.WriteLine($"netstack run: {category}: {formatter(state, exception)}{(exception is null ? "" : " (" + exception.Message + ")")}");
            }
        }
    }
}
