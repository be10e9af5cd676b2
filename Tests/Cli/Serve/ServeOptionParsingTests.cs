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
    [InlineData("serve --address 10.9.0.2/24")]
    public void Bad_Options_Are_Parse_Errors(string line)
    {
        var root = new RootCommand { ServeCommand.Create() };
        Assert.NotEmpty(root.Parse(line).Errors);
    }

    [Theory]
    [InlineData("serve --tun t0 --address 10.9.0.2/24")]
    [InlineData("serve --tun t0 --address 10.9.0.2/24 --address fd09::2/64 --mtu 9000 --http-port 0 --stats-interval 0")]
    public void Good_Options_Parse(string line)
    {
        var root = new RootCommand { ServeCommand.Create() };
        Assert.Empty(root.Parse(line).Errors);
    }
}
