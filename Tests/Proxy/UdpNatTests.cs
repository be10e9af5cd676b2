// The UDP NAT through a HostForwarder: datagrams to a loopback host socket and back from the original destination,
// idle expiry, least-recently-used eviction, ECONNREFUSED → ICMP port unreachable, DNS over UDP and TCP.
using System.Net;
using System.Net.Sockets;
using NetStack.Proxy;
using NetStack.Tcp;
using NetStack.Udp;

namespace NetStack.Tests.Proxy;

public sealed class UdpNatTests
{
    /// <summary>A loopback UDP socket answering each datagram with "echo:" and the datagram.</summary>
    private static (Socket Socket, Task Loop) Echo(CancellationToken stop)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Task loop = Task.Run(async () =>
        {
            byte[] buffer = new byte[2048];
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop);
                    byte[] reply = [.. "echo:"u8, .. buffer.AsSpan(0, r.ReceivedBytes)];
                    await socket.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint, stop);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        });
        return (socket, loop);
    }

    [Fact]
    public async Task Echo_ThroughTheNat_ReplyComesFromTheOriginalDestination()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        using var stop = new CancellationTokenSource();
        (Socket host, Task loop) = Echo(stop.Token);
        using (host)
        {
            var destination = new IPEndPoint(world.Gateway.Ipv4, ((IPEndPoint)host.LocalEndPoint!).Port);
            using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();
            endpoint.Bind(new IPEndPoint(IPAddress.Any, 0));
            byte[] buffer = new byte[64];
            for (int i = 0; i < 3; i++)
            {
                await endpoint.SendToAsync("hello"u8.ToArray(), destination);
                var r = await endpoint.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal("echo:hello", System.Text.Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes));
                Assert.Equal(destination, r.RemoteEndPoint);
            }
            Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowCreated]); // one flow for the three
            Assert.Equal(1, world.Forwarder.Metrics.UdpFlows);
            stop.Cancel();
        }
        await loop;
    }

    [Fact]
    public async Task Flows_IdlePastTheTimeout_Expire()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true, UdpIdleTimeout = TimeSpan.FromMilliseconds(300) });
        using var stop = new CancellationTokenSource();
        (Socket host, Task loop) = Echo(stop.Token);
        using (host)
        {
            using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();
            await endpoint.SendToAsync("x"u8.ToArray(), new IPEndPoint(world.Gateway.Ipv4, ((IPEndPoint)host.LocalEndPoint!).Port));
            await endpoint.ReceiveFromAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.UdpFlows == 0, "the flow to expire");
            Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowExpired]);
            stop.Cancel();
        }
        await loop;
    }

    [Fact]
    public async Task Flows_PastTheLimit_TheLeastRecentlyUsedIsEvicted()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true, MaxUdpFlows = 2 });
        using var stop = new CancellationTokenSource();
        (Socket host, Task loop) = Echo(stop.Token);
        using (host)
        {
            var destination = new IPEndPoint(world.Gateway.Ipv4, ((IPEndPoint)host.LocalEndPoint!).Port);
            var endpoints = Enumerable.Range(0, 3).Select(_ => world.Sandbox.Stack.Udp.CreateEndpoint()).ToArray();
            byte[] buffer = new byte[16];
            foreach (UdpEndpoint e in endpoints)
            {
                await e.SendToAsync("x"u8.ToArray(), destination);
                await e.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }
            Assert.Equal(2, world.Forwarder.Metrics.UdpFlows);
            Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowEvicted]);
            // The evicted (first) flow comes back as a new flow; its reply still arrives.
            await endpoints[0].SendToAsync("y"u8.ToArray(), destination);
            await endpoints[0].ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(4, world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowCreated]);
            Array.ForEach(endpoints, e => e.Dispose());
            stop.Cancel();
        }
        await loop;
    }

    [Fact]
    public async Task HostPortClosed_SandboxGetsPortUnreachable()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        int closedPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closedPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();
        endpoint.Connect(new IPEndPoint(world.Gateway.Ipv4, closedPort)); // a connected endpoint reports ICMP errors
        await endpoint.SendToAsync("x"u8.ToArray());
        var error = await Assert.ThrowsAsync<SocketException>(async () => await endpoint.ReceiveFromAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.UdpPortUnreachable]);
    }

    [Fact]
    public async Task Dns_QueryOverUdpAndTcp_ReachesTheResolverAndAnswers()
    {
        using var stop = new CancellationTokenSource();
        (Socket resolver, Task loop) = Echo(stop.Token); // a stand-in resolver: what it gets, it answers
        using var tcpResolver = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcpResolver.Bind(resolver.LocalEndPoint!); // the same port over TCP, as a resolver has
        tcpResolver.Listen(4);
        var resolverEndPoint = (IPEndPoint)resolver.LocalEndPoint!;
        await using var world = ProxyWorld.Create(new ProxyOptions { Resolvers = [resolverEndPoint] });
        using (resolver)
        {
            using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();
            await endpoint.SendToAsync("query"u8.ToArray(), new IPEndPoint(ProxyWorld.Dns4, 53));
            byte[] buffer = new byte[64];
            var r = await endpoint.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("echo:query", System.Text.Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes));
            Assert.Equal(new IPEndPoint(ProxyWorld.Dns4, 53), r.RemoteEndPoint);

            Task<Socket> accepted = tcpResolver.AcceptAsync();
            await using TcpConnection tcp = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(ProxyWorld.Dns4, 53));
            using Socket peer = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
            await tcp.WriteAsync("tcp-query"u8.ToArray());
            int n = await peer.ReceiveAsync(buffer);
            Assert.Equal("tcp-query", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
            stop.Cancel();
        }
        await loop;
    }

    [Fact]
    public async Task Dns_OtherPortsOfTheDnsAddress_GoNowhere()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { Resolvers = [new IPEndPoint(IPAddress.Loopback, 53)] });
        using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();
        await endpoint.SendToAsync("x"u8.ToArray(), new IPEndPoint(ProxyWorld.Dns4, 54));
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Refusals[ProxyRefusal.Unreachable] == 1, "the refusal");
        Assert.Equal(0, world.Forwarder.Metrics.UdpFlows);
    }
}
