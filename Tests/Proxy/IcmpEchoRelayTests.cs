// ICMP echo through a HostForwarder's unprivileged ICMP sockets, where this machine allows them.
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using NetStack.Proxy;

namespace NetStack.Tests.Proxy;

public sealed class IcmpEchoRelayTests
{
    [SkippableFact]
    public async Task Ping_AHostAddress_ReplyRelayedFromThePingedAddress()
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp);
        }
        catch (SocketException)
        {
            Skip.If(true, "unprivileged ICMP sockets are not allowed here (net.ipv4.ping_group_range)");
        }
        IPAddress? target = NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Skip.If(target is null, "no non-loopback IPv4 address on this machine");
        await using var world = ProxyWorld.Create(new ProxyOptions());
        TimeSpan rtt = await world.Sandbox.Stack.Icmp.PingAsync(target!, 56, TimeSpan.FromSeconds(10));
        Assert.True(rtt >= TimeSpan.Zero);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.EchoReplied]);
        Assert.True(world.Forwarder.EchoAvailable);
    }

    [Fact]
    public async Task Ping_APolicyRefusedAddress_IsDroppedAndCounted()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions());
        await Assert.ThrowsAsync<TimeoutException>(() => world.Sandbox.Stack.Icmp.PingAsync(IPAddress.Parse("169.254.1.1"), 8, TimeSpan.FromMilliseconds(500)));
        Assert.Equal(1, world.Forwarder.Metrics.Refusals[ProxyRefusal.LinkLocal]);
    }
}
