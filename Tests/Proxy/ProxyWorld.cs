// The forwarder's test world, no root needed: the sandbox is a stack on an InMemoryNetwork, the forwarder a second
// stack on it that every off-net address routes to, and the far side real sockets on the host's loopback.
using System.Net;
using Microsoft.Extensions.Logging;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Proxy;

namespace NetStack.Tests.Proxy;

/// <summary>A sandbox stack, a forwarding stack with a <see cref="HostForwarder"/>, and the host's loopback beyond it.</summary>
internal sealed class ProxyWorld : IAsyncDisposable
{
    public static readonly IPAddress Dns4 = IPAddress.Parse("10.0.0.53");

    private ProxyWorld(InMemoryNetwork network, InMemoryHost sandbox, InMemoryHost gateway, HostForwarder forwarder)
    {
        Network = network;
        Sandbox = sandbox;
        Gateway = gateway;
        Forwarder = forwarder;
    }

    public InMemoryNetwork Network { get; }

    public InMemoryHost Sandbox { get; }

    public InMemoryHost Gateway { get; }

    public HostForwarder Forwarder { get; }

    /// <summary>
    /// A world whose forwarder has <paramref name="options"/> plus the gateway's address and the DNS address, its host
    /// sockets from <paramref name="sockets"/> (the kernel's when null) and its logs to <paramref name="loggerFactory"/>.
    /// </summary>
    public static ProxyWorld Create(ProxyOptions? options = null, InMemoryNetworkOptions? networkOptions = null,
        HostSockets? sockets = null, ILoggerFactory? loggerFactory = null)
    {
        var network = new InMemoryNetwork(networkOptions);
        InMemoryHost sandbox = network.AddHost(), gateway = network.AddHost();
        network.AddRoute(new IPNetwork(IPAddress.Any, 0), gateway);
        network.AddRoute(new IPNetwork(IPAddress.IPv6Any, 0), gateway);
        sandbox.Stack.Routes.Add(new Route(NetPrefix.Parse("0.0.0.0/0"), sandbox.Nic));
        sandbox.Stack.Routes.Add(new Route(NetPrefix.Parse("::/0"), sandbox.Nic));
        options ??= new ProxyOptions();
        options = options with
        {
            Gateways = [NetAddress.FromIPAddress(gateway.Ipv4), NetAddress.FromIPAddress(gateway.Ipv6)],
            DnsAddresses = [NetAddress.FromIPAddress(Dns4)],
            Resolvers = options.Resolvers ?? [],
        };
        return new ProxyWorld(network, sandbox, gateway, new HostForwarder(gateway.Stack, options, loggerFactory, sockets ?? HostSockets.Kernel));
    }

    /// <summary>Waits until <paramref name="condition"/> holds (polling), failing after <paramref name="seconds"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, double seconds = 10)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Forwarder.DisposeAsync();
        await Network.DisposeAsync();
    }
}
