// `netstack run`'s option value grammars: exact values for good input, an error text (never an exception) for bad.
using NetStack.Cli.Run;
using NetStack.Network;

namespace NetStack.Tests.Cli.Run;

public sealed class RunOptionParsersTests
{
    [Fact]
    public void Directional_OneValue_BothDirections()
    {
        Assert.Null(RunOptionParsers.TryParseDirectional<double>("1%", RunOptionParsers.TryParsePercent, out var value));
        Assert.Equal(new Directional<double>(1, 1), value);
    }

    [Fact]
    public void Directional_UpAndDown_EachItsOwn()
    {
        Assert.Null(RunOptionParsers.TryParseDirectional<double>("up=1%,down=0.1%", RunOptionParsers.TryParsePercent, out var value));
        Assert.Equal(new Directional<double>(1, 0.1), value);
        Assert.Null(RunOptionParsers.TryParseDirectional<double>(" down = 2% ", RunOptionParsers.TryParsePercent, out value));
        Assert.Equal(new Directional<double>(null, 2), value);
    }

    [Theory]
    [InlineData("sideways=1%")]
    [InlineData("up=1%,up=2%")]
    [InlineData("up=1%,down")]
    [InlineData("up=101%")]
    [InlineData("")]
    public void Directional_Bad_ErrorText(string text) =>
        Assert.NotNull(RunOptionParsers.TryParseDirectional<double>(text, RunOptionParsers.TryParsePercent, out _));

    [Theory]
    [InlineData("0", 0)]
    [InlineData("5%", 5)]
    [InlineData("0.25%", 0.25)]
    [InlineData("100%", 100)]
    public void Percent_Good_Value(string text, double expected)
    {
        Assert.Null(RunOptionParsers.TryParsePercent(text, out double value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("-1%")]
    [InlineData("100.5%")]
    [InlineData("NaN")]
    [InlineData("5%%")]
    public void Percent_Bad_ErrorText(string text) => Assert.NotNull(RunOptionParsers.TryParsePercent(text, out _));

    [Theory]
    [InlineData("100ms", 100_000)]
    [InlineData("1.5s", 1_500_000)]
    [InlineData("250us", 250)]
    [InlineData("20", 20_000)]
    public void Duration_Good_Microseconds(string text, long microseconds)
    {
        Assert.Null(RunOptionParsers.TryParseDuration(text, out TimeSpan value));
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), value);
    }

    [Theory]
    [InlineData("-5ms")]
    [InlineData("2h")]
    [InlineData("3601s")]
    [InlineData("ms")]
    public void Duration_Bad_ErrorText(string text) => Assert.NotNull(RunOptionParsers.TryParseDuration(text, out _));

    [Theory]
    [InlineData("10mbit", 10_000_000)]
    [InlineData("1gbit", 1_000_000_000)]
    [InlineData("500kbit", 500_000)]
    [InlineData("64000bit", 64_000)]
    [InlineData("10mbps", 80_000_000)]
    [InlineData("1kbps", 8_000)]
    [InlineData("2Gbit", 2_000_000_000)]
    [InlineData("1000", 1000)]
    public void Rate_Good_BitsPerSecond(string text, long expected)
    {
        Assert.Null(RunOptionParsers.TryParseRate(text, out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0mbit")]
    [InlineData("fast")]
    [InlineData("2000gbit")]
    public void Rate_Bad_ErrorText(string text) => Assert.NotNull(RunOptionParsers.TryParseRate(text, out _));

    [Theory]
    [InlineData("8080:80", null, 8080, 80)]
    [InlineData("0.0.0.0:8080:80", "0.0.0.0", 8080, 80)]
    [InlineData("[::1]:5353:53", "::1", 5353, 53)]
    public void PortForward_Good_Parts(string text, string? address, int hostPort, int sandboxPort)
    {
        Assert.Null(RunOptionParsers.TryParsePortForward(text, ForwardProtocol.Udp, out PortForward forward));
        Assert.Equal(new PortForward(ForwardProtocol.Udp, address is null ? null : NetAddress.Parse(address), hostPort, sandboxPort), forward);
    }

    [Theory]
    [InlineData("80")]
    [InlineData("0:80")]
    [InlineData("8080:65536")]
    [InlineData("::1:8080:80")]
    [InlineData("host:8080:80")]
    [InlineData("[::1]8080:80")]
    public void PortForward_Bad_ErrorText(string text) => Assert.NotNull(RunOptionParsers.TryParsePortForward(text, ForwardProtocol.Tcp, out _));

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8", null)]
    [InlineData("192.168.1.1:53", "192.168.1.1/32", 53)]
    [InlineData("fd00::/8", "fd00::/8", null)]
    [InlineData("[2001:db8::/32]:443", "2001:db8::/32", 443)]
    public void AddressRule_Good_Parts(string text, string prefix, int? port)
    {
        Assert.Null(RunOptionParsers.TryParseAddressRule(text, out AddressRule rule));
        Assert.Equal(new AddressRule(NetPrefix.Parse(prefix), port), rule);
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/8:0")]
    [InlineData("[fd00::/8")]
    [InlineData("example.com")]
    public void AddressRule_Bad_ErrorText(string text) => Assert.NotNull(RunOptionParsers.TryParseAddressRule(text, out _));
}
