// The command line's -v/--verbosity: dotnet's verbosity names and log levels map to levels, every command takes it
// (before `netstack run`'s CMD it is netstack's, after it CMD's), and a word that is neither is a parse error.
using System.CommandLine;
using Microsoft.Extensions.Logging;
using NetStack.Cli;
using NetStack.Cli.Run;

namespace NetStack.Tests.Cli;

public sealed class CliLoggingTests
{
    private static (Command Run, RootCommand Root) Commands()
    {
        Command run = RunCommand.Create();
        var root = new RootCommand { run, new Command("selfcheck") };
        root.Options.Add(CliLogging.Verbosity);
        return (run, root);
    }

    [Theory]
    [InlineData("q", LogLevel.Error)]
    [InlineData("quiet", LogLevel.Error)]
    [InlineData("minimal", LogLevel.Warning)]
    [InlineData("n", LogLevel.Information)]
    [InlineData("detailed", LogLevel.Debug)]
    [InlineData("diag", LogLevel.Trace)]
    [InlineData("DIAGNOSTIC", LogLevel.Trace)]
    [InlineData("trace", LogLevel.Trace)]
    [InlineData("Debug", LogLevel.Debug)]
    [InlineData("info", LogLevel.Information)]
    [InlineData("warn", LogLevel.Warning)]
    [InlineData("none", LogLevel.None)]
    public void ParseLevel_DotnetNamesAndLogLevels_MapToTheLevel(string text, LogLevel expected) =>
        Assert.Equal(expected, CliLogging.ParseLevel(text));

    [Theory]
    [InlineData("loud")]
    [InlineData("3")]
    [InlineData("")]
    public void ParseLevel_AnythingElse_IsNull(string text) => Assert.Null(CliLogging.ParseLevel(text));

    [Fact]
    public void Verbosity_OnAnyCommand_IsParsed_UnknownWordIsAnError()
    {
        (_, RootCommand root) = Commands();
        Assert.Equal(LogLevel.Debug, root.Parse(["selfcheck", "-v", "detailed"]).GetValue(CliLogging.Verbosity));
        Assert.Equal(LogLevel.Trace, root.Parse(["--verbosity", "trace", "selfcheck"]).GetValue(CliLogging.Verbosity));
        Assert.Null(root.Parse(["selfcheck"]).GetValue(CliLogging.Verbosity));
        Assert.Contains(root.Parse(["selfcheck", "-v", "loud"]).Errors, e => e.Message.Contains("'loud' is not a level", StringComparison.Ordinal));
    }

    [Fact]
    public void Verbosity_BeforeRunsCommand_IsNetstacks_AfterIt_TheCommands()
    {
        (Command run, RootCommand root) = Commands();
        string[] args = RunCommand.SeparateCommand(run, ["run", "-v", "detailed", "curl", "-v", "http://x"]);
        Assert.Equal(["run", "-v", "detailed", "--", "curl", "-v", "http://x"], args);
        ParseResult result = root.Parse(args);
        Assert.Empty(result.Errors);
        Assert.Equal(LogLevel.Debug, result.GetValue(CliLogging.Verbosity));
        Assert.Equal(["curl", "-v", "http://x"], result.GetValue<string[]>("CMD")!);
    }
}
