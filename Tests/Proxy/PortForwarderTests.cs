// Port forwards host → sandbox through a HostForwarder: a host client reaches a server inside the sandbox stack.
using System.Net;
using System.Net.Sockets;
using NetStack.Proxy;
using NetStack.Udp;

namespace NetStack.Tests.Proxy;

public sealed class PortForwarderTests
{
    [Fact]
    public async Task Tcp_HostClient_ReachesTheSandboxServerBothWays()
    {
        await using var forwarded = ProxyWorld.Create(new ProxyOptions
        {
            PortForwards = [new ProxyPortForward(ProxyProtocol.Tcp, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Parse("10.0.0.1"), 7))],
        });
        using var listener = forwarded.Sandbox.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7));
        _ = Task.Run(async () => { await using var peer = await listener.AcceptAsync(); await peer.CopyToAsync(peer); peer.ShutdownSend(); });
        Assert.Equal(IPAddress.Parse("10.0.0.1"), forwarded.Sandbox.Ipv4);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(forwarded.Forwarder.PortForwardEndPoints[0]);
        await client.SendAsync("hello"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        byte[] buffer = new byte[16];
        int total = 0, n;
        while ((n = await client.ReceiveAsync(buffer.AsMemory(total)).AsTask().WaitAsync(TimeSpan.FromSeconds(10))) > 0)
        {
            total += n;
        }
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, total));
        Assert.Equal(1, forwarded.Forwarder.Metrics.Events[ProxyEvent.PortForwardAccepted]);
    }

    [Fact]
    public async Task Tcp_NothingListensInTheSandbox_HostClientIsReset()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions
        {
            PortForwards = [new ProxyPortForward(ProxyProtocol.Tcp, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Parse("10.0.0.1"), 9))],
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            // The RST may come before the connect completes or after it: either way the client sees the reset.
            await client.ConnectAsync(world.Forwarder.PortForwardEndPoints[0]);
            await client.ReceiveAsync(new byte[1]).WaitAsync(TimeSpan.FromSeconds(10));
        });
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.PortForwardFailed]);
    }

    [Fact]
    public async Task Udp_HostClient_GetsTheSandboxServersReply()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions
        {
            PortForwards = [new ProxyPortForward(ProxyProtocol.Udp, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Parse("10.0.0.1"), 7))],
        });
        using UdpEndpoint server = world.Sandbox.Stack.Udp.CreateEndpoint();
        server.Bind(new IPEndPoint(IPAddress.Any, 7));
        _ = Task.Run(async () =>
        {
            byte[] b = new byte[64];
            var r = await server.ReceiveFromAsync(b);
            await server.SendToAsync(b.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(world.Forwarder.PortForwardEndPoints[0]);
        await client.SendAsync("ping"u8.ToArray());
        byte[] buffer = new byte[16];
        int n = await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task Udp_IdlePeer_ExpiresAndTheNextDatagramOpensANewFlow()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions
        {
            UdpIdleTimeout = TimeSpan.FromMilliseconds(200),
            PortForwards = [new ProxyPortForward(ProxyProtocol.Udp, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Parse("10.0.0.1"), 7))],
        });
        using UdpEndpoint server = world.Sandbox.Stack.Udp.CreateEndpoint();
        server.Bind(new IPEndPoint(IPAddress.Any, 7));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(world.Forwarder.PortForwardEndPoints[0]);
        byte[] buffer = new byte[64];
        await client.SendAsync("one"u8.ToArray());
        UdpReceiveFromResult first = await server.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowExpired] == 1, "the idle peer's flow expiring");
        await client.SendAsync("two"u8.ToArray());
        UdpReceiveFromResult second = await server.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("two", System.Text.Encoding.ASCII.GetString(buffer, 0, second.ReceivedBytes));
        Assert.Equal(2, world.Forwarder.Metrics.Events[ProxyEvent.PortForwardAccepted]); // a new stack endpoint for the same host peer
        Assert.NotEqual(first.RemoteEndPoint, second.RemoteEndPoint);
        Assert.Equal(1, world.Gateway.Stack.Udp.BoundCount); // the expired endpoint was closed
    }

    [Fact]
    public async Task Udp_PeersPastMaxUdpFlows_RefusedAndCounted()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions
        {
            MaxUdpFlows = 2,
            PortForwards = [new ProxyPortForward(ProxyProtocol.Udp, new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Parse("10.0.0.1"), 7))],
        });
        using UdpEndpoint server = world.Sandbox.Stack.Udp.CreateEndpoint();
        server.Bind(new IPEndPoint(IPAddress.Any, 7));
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                clients.Add(client);
                client.Connect(world.Forwarder.PortForwardEndPoints[0]);
                await client.SendAsync("x"u8.ToArray());
            }
            await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Events[ProxyEvent.PortForwardFailed] == 1, "the third peer refused");
            Assert.Equal(2, world.Forwarder.Metrics.Events[ProxyEvent.PortForwardAccepted]);
            Assert.Equal(2, world.Gateway.Stack.Udp.BoundCount);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }
}
