// serve's UDP echo service (RFC 862) on the demo network: it answers ordinary clients and never a source that could
// reflect or loop — a privileged port such as another echo (7) or chargen (19) — which it drops and counts.
using System.Net;
using NetStack.Cli.Demo;
using NetStack.Cli.Serve;
using NetStack.Udp;

namespace NetStack.Tests.Cli.Serve;

public sealed class UdpEchoServiceTests : IAsyncLifetime
{
    private DemoNetwork _network = null!;
    private UdpEchoService _echo = null!;

    public Task InitializeAsync()
    {
        _network = new DemoNetwork(new DemoNetworkOptions());
        _echo = new UdpEchoService();
        _echo.Start(_network.Server, 7);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _echo.DisposeAsync();
        await _network.DisposeAsync();
    }

    private UdpEndpoint ClientFrom(int port)
    {
        UdpEndpoint endpoint = _network.Client.Udp.CreateEndpoint();
        endpoint.Bind(new IPEndPoint(DemoNetwork.ClientAddress, port));
        return endpoint;
    }

    [Fact]
    public async Task Datagram_FromAnOrdinaryPort_EchoedBack()
    {
        using UdpEndpoint client = ClientFrom(40000);
        client.SendTo("ping"u8, new IPEndPoint(DemoNetwork.ServerAddress, 7));
        byte[] buffer = new byte[100];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        UdpReceiveFromResult result = await client.ReceiveFromAsync(buffer, timeout.Token);
        Assert.Equal("ping"u8.ToArray(), buffer[..result.ReceivedBytes]);
        Assert.Equal(0, _echo.Refused);
    }

    [Theory]
    [InlineData(7)] // another echo: the two would ping-pong forever
    [InlineData(19)] // chargen
    [InlineData(1023)] // any privileged port
    public async Task Datagram_FromAPortThatAnswers_NotEchoed_Counted(int port)
    {
        using UdpEndpoint client = ClientFrom(port);
        using UdpEndpoint witness = ClientFrom(40001); // sent after it: its echo proves the first was handled
        client.SendTo("loop"u8, new IPEndPoint(DemoNetwork.ServerAddress, 7));
        witness.SendTo("after"u8, new IPEndPoint(DemoNetwork.ServerAddress, 7));
        byte[] buffer = new byte[100];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        _ = await witness.ReceiveFromAsync(buffer, timeout.Token);

        Assert.Equal(1, _echo.Refused);
        Assert.False(client.TryReceive(buffer, out _), "echoed to a port that answers");
        Assert.Equal(1, _echo.Datagrams);
    }
}
