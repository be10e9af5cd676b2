// `netstack run`'s option records: the address plan's consistency checks, the gateway prefixes the stack gets, and
// the one mapping of impairments onto the TUN endpoint (up = read from the device, down = written to it).
using NetStack.Cli.Run;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Tests.Cli.Run;

public sealed class SandboxAddressesTests
{
    [Fact]
    public void Defaults_SlirpPlan_Consistent()
    {
        var addresses = new SandboxAddresses();
        Assert.Null(addresses.Check());
        Assert.Equal([NetPrefix.Parse("10.0.2.2/24"), NetPrefix.Parse("fd00::2/64")], addresses.GatewayPrefixes);
        Assert.Equal([NetPrefix.Parse("10.0.2.2/24")], (addresses with { Ipv6 = false }).GatewayPrefixes);
    }

    [Fact]
    public void Check_GatewayOutsidePrefix_Named()
    {
        string? problem = new SandboxAddresses { Gateway4 = NetAddress.Parse("10.0.3.2") }.Check();
        Assert.NotNull(problem);
        Assert.Contains("--gateway 10.0.3.2", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_SameAddressTwice_Named()
    {
        Assert.NotNull(new SandboxAddresses { Dns4 = NetAddress.Parse("10.0.2.2") }.Check());
        Assert.NotNull(new SandboxAddresses { Gateway6 = NetAddress.Parse("fd00::100") }.Check());
    }

    [Fact]
    public void Check_WrongFamilyOrNoRoom_Named()
    {
        Assert.NotNull(new SandboxAddresses { Gateway4 = NetAddress.Parse("fd00::2") }.Check());
        Assert.NotNull(new SandboxAddresses { Sandbox4 = NetPrefix.Parse("10.0.2.100/31") }.Check());
    }

    [Fact]
    public void Check_NoIpv6_IgnoresTheIpv6Plan() =>
        Assert.Null(new SandboxAddresses { Ipv6 = false, Gateway6 = NetAddress.Parse("10.0.0.1") }.Check());
}

public sealed class LinkImpairmentsTests
{
    [Fact]
    public void ApplyTo_UpIsInbound_DownIsOutbound_SeedCarried()
    {
        var up = new ImpairmentOptions { LossPercent = 1 };
        var down = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(10) };
        TunEndpointOptions options = new LinkImpairments { Up = up, Down = down, Seed = 7 }.ApplyTo(new TunEndpointOptions { Mtu = 9000 });
        var channel = new ChannelEndpoint();
        var inbound = Assert.IsType<ImpairmentStage>(options.Inbound!(channel));
        var outbound = Assert.IsType<ImpairmentStage>(options.Outbound!(channel));
        Assert.Same(up, inbound.Options);
        Assert.Same(down, outbound.Options);
        Assert.Equal(7, inbound.Seed);
        Assert.Same(channel, inbound.Inner);
        Assert.Same(channel, outbound.Inner);
        Assert.Equal(9000, options.Mtu);
        inbound.Dispose();
        outbound.Dispose();
    }

    [Fact]
    public void ApplyTo_WithACapture_UpIsImpairedBeforeTheTap_DownAfterIt()
    {
        // Inbound: reader → tap → impairment → channel (the capture shows what the sandbox sent);
        // outbound: channel → impairment → tap → device (it shows what reaches the sandbox).
        var tapped = new List<string>();
        var loss = new ImpairmentOptions { LossPercent = 1 };
        var withTap = new TunEndpointOptions
        {
            Inbound = sink => { tapped.Add("in"); return new TracingTap(sink); },
            Outbound = sink => { tapped.Add("out"); return new TracingTap(sink); },
        };
        TunEndpointOptions options = new LinkImpairments { Up = loss, Down = loss }.ApplyTo(withTap);
        var channel = new ChannelEndpoint();
        var inboundTap = Assert.IsType<TracingTap>(options.Inbound!(channel));
        Assert.IsType<ImpairmentStage>(inboundTap.Inner);
        var outboundStage = Assert.IsType<ImpairmentStage>(options.Outbound!(channel));
        Assert.IsType<TracingTap>(outboundStage.Inner);
        Assert.Equal(["in", "out"], tapped);
        inboundTap.Dispose();
        outboundStage.Dispose();
    }

    [Fact]
    public void ApplyTo_TransparentOrNone_NoStage()
    {
        TunEndpointOptions options = new LinkImpairments { Up = new ImpairmentOptions() }.ApplyTo(new TunEndpointOptions());
        Assert.Null(options.Inbound);
        Assert.Null(options.Outbound);
    }

    private sealed class TracingTap(IPacketSink inner) : PacketSinkDecorator(inner);
}

public sealed class InitConfigTests
{
    [Fact]
    public void EncodeDecode_RoundTrip_Equal()
    {
        var config = new InitConfig
        {
            TunName = "tun7",
            Mtu = 9000,
            Offload = false,
            Sandbox4 = NetPrefix.Parse("10.9.0.100/24"),
            Gateway4 = NetAddress.Parse("10.9.0.2"),
            Sandbox6 = NetPrefix.Parse("fd09::100/64"),
            Gateway6 = NetAddress.Parse("fd09::2"),
            Dns = [NetAddress.Parse("10.9.0.3"), NetAddress.Parse("fd09::3")],
            ResolvConf = true,
            ParentPid = 1234,
        };
        InitConfig decoded = InitConfig.Decode(config.Encode());
        Assert.Equal(config with { Dns = [] }, decoded with { Dns = [] });
        Assert.Equal(config.Dns, decoded.Dns);
    }

    [Fact]
    public void Decode_Ipv4Only_NoIpv6()
    {
        var config = new InitConfig { TunName = "tun0", Sandbox4 = NetPrefix.Parse("10.0.2.100/24"), Gateway4 = NetAddress.Parse("10.0.2.2") };
        InitConfig decoded = InitConfig.Decode(config.Encode());
        Assert.Null(decoded.Sandbox6);
        Assert.Null(decoded.Gateway6);
    }

    [Fact]
    public void Decode_NotAConfig_FormatException()
    {
        Assert.Throws<FormatException>(() => InitConfig.Decode("hello"u8));
        Assert.Throws<FormatException>(() => InitConfig.Decode("config\nno-equals-sign\n"u8));
    }

    [Fact]
    public void Message_KindAndText_Split()
    {
        Assert.Equal(("error", "two\nlines"), InitMessage.Decode(InitMessage.Encode(InitMessage.Error, "two\nlines")));
        Assert.Equal(("go", ""), InitMessage.Decode(InitMessage.Encode(InitMessage.Go)));
    }
}
