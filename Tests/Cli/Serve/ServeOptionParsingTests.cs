// `netstack serve` refuses bad values while parsing, before any TUN device is opened or created.
using System.CommandLine;
using NetStack.Cli.Serve;

namespace NetStack.Tests.Cli.Serve;

public class ServeOptionParsingTests
{
    [Theory]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --mtu 70000")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --mtu 100")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --http-port 70000")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --echo-port -1")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --send-buffer 0")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --receive-buffer -5")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --max-send-buffer 0")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --outbound-queue -1")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --stats-interval -1")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --offload maybe")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --user-timeout -1")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --idle-timeout -1")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --orphan-retries 0")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --max-connections 0")]
    [InlineData("serve --address 10.9.0.2/24")]
    public void Bad_Options_Are_Parse_Errors(string line)
    {
        var root = new RootCommand { ServeCommand.Create() };
        Assert.NotEmpty(root.Parse(line).Errors);
    }

    [Theory]
    [InlineData("serve --tun t0 --address 10.9.0.2/24")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --address fd09::2/64 --mtu 9000 --http-port 0 --stats-interval 0")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --user-timeout 30 --orphan-retries 3 --idle-timeout 0 --max-connections 4096")]
    public void Good_Options_Parse(string line)
    {
        var root = new RootCommand { ServeCommand.Create() };
        Assert.Empty(root.Parse(line).Errors);
    }

    [Fact]
    public void ProtocolOptions_LimitsGiven_ReachTheStackAndItsConnections()
    {
        var options = new ServeOptions
        {
            Tun = "t0",
            Addresses = [],
            UserTimeout = TimeSpan.FromSeconds(30),
            OrphanRetries = 3,
            MaxConnections = 4096,
        };
        NetStack.Tcp.TcpProtocolOptions tcp = StackHost.ProtocolOptions(options);
        Assert.Equal(TimeSpan.FromSeconds(30), tcp.Connection.UserTimeout);
        Assert.Equal(3, tcp.OrphanRetries);
        Assert.Equal(4096, tcp.MaxConnections);
        NetStack.Tcp.TcpProtocolOptions defaults = StackHost.ProtocolOptions(options with { UserTimeout = TimeSpan.Zero, OrphanRetries = null, MaxConnections = null });
        Assert.Equal(new NetStack.Tcp.TcpProtocolOptions().OrphanRetries, defaults.OrphanRetries);
        Assert.Equal(new NetStack.Tcp.TcpProtocolOptions().MaxConnections, defaults.MaxConnections);
        Assert.Equal(TimeSpan.Zero, defaults.Connection.UserTimeout);
    }
}
