// `netstack run`'s command line: where CMD starts without `--`, what is refused while parsing, and what the options
// become (addresses, impairments each way, the forwarder's record).
using System.CommandLine;
using NetStack.Cli.Run;

namespace NetStack.Tests.Cli.Run;

public sealed class RunCommandTests
{
    private static readonly Command s_run = RunCommand.Create();

    private static ParseResult Parse(params string[] args) =>
        new RootCommand { RunCommand.Create() }.Parse(RunCommand.SeparateCommand(s_run, args));

    [Theory]
    [InlineData("run curl -u user http://x", "run -- curl -u user http://x")]
    [InlineData("run --mtu 1500 --stats curl -t 5", "run --mtu 1500 --stats -- curl -t 5")]
    [InlineData("run --stats true curl", "run --stats true -- curl")]
    [InlineData("run --loss=1% sh", "run --loss=1% -- sh")]
    [InlineData("run -t 8080:80 -- sh -c x", "run -t 8080:80 -- sh -c x")]
    [InlineData("run --attach 42", "run --attach 42")]
    [InlineData("serve --tun x", "serve --tun x")]
    public void SeparateCommand_CommandWithoutDashes_GetsThem(string args, string expected) =>
        Assert.Equal(expected.Split(' '), RunCommand.SeparateCommand(s_run, args.Split(' ')));

    [Fact]
    public void Parse_CommandsOwnOptions_AreCommandArguments()
    {
        ParseResult result = Parse("run", "--loss", "up=1%", "curl", "-u", "a:b", "--stats");
        Assert.Empty(result.Errors);
        Assert.Equal(["curl", "-u", "a:b", "--stats"], result.GetValue<string[]>("CMD")!);
    }

    [Theory]
    [InlineData("run --mtu 70000 true", "--mtu")]
    [InlineData("run --loss 101% true", "--loss")]
    [InlineData("run --loss left=1% true", "--loss")]
    [InlineData("run --delay 5parsecs true", "--delay")]
    [InlineData("run --rate 0 true", "--rate")]
    [InlineData("run --reorder up=x true", "--reorder")]
    [InlineData("run -t 99999:80 true", "--tcp")]
    [InlineData("run --deny 10.0.0.0/40 true", "--deny")]
    [InlineData("run --address 10.0.2.300/24 true", "--address")]
    [InlineData("run --tun-name this-name-is-too-long true", "--tun-name")]
    [InlineData("run --attach 0", "--attach")]
    [InlineData("run --attach 42 true", "takes no CMD")]
    [InlineData("run", "CMD is missing")]
    public void Parse_BadValue_ErrorNamesIt(string args, string named)
    {
        ParseResult result = Parse(args.Split(' '));
        Assert.Contains(result.Errors, e => e.Message.Contains(named, StringComparison.Ordinal));
    }

    [Fact]
    public void Direction_NothingAsked_Null()
    {
        Assert.Null(RunCommand.Direction(null, null, null, null, null, null));
        Assert.Null(RunCommand.Direction(0, TimeSpan.Zero, null, null, 0, null));
    }

    [Fact]
    public void Direction_Values_ImpairmentOptions()
    {
        var options = RunCommand.Direction(1, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(5), 10_000_000, 2, 3);
        Assert.NotNull(options);
        Assert.Equal(1, options.LossPercent);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.Delay);
        Assert.Equal(TimeSpan.FromMilliseconds(5), options.Jitter);
        Assert.Equal(10_000_000, options.RateBitsPerSecond);
        Assert.Equal(2, options.ReorderPercent);
        Assert.Equal(3, options.DuplicatePercent);
    }
}
