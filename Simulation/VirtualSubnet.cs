// A subnet of a virtual network: an IPv4 and an IPv6 prefix on one in-memory switch, its hosts numbered in order.
using System.Net;
using NetStack.Link.Simulation;

namespace NetStack.Simulation;

/// <summary>
/// One switched segment of a <see cref="VirtualNetwork"/> with an IPv4 and an IPv6 prefix. Hosts on it reach each
/// other directly; hosts on other subnets through the routers that join them (<see cref="VirtualNetwork.AddRouter"/>).
/// </summary>
public sealed class VirtualSubnet
{
    internal VirtualSubnet(string name, IPNetwork ipv4, IPNetwork ipv6, InMemoryNetwork network, int index)
    {
        Name = name;
        Ipv4 = ipv4;
        Ipv6 = ipv6;
        Network = network;
        Index = index;
    }

    /// <summary>The subnet's name.</summary>
    public string Name { get; }

    /// <summary>Its IPv4 prefix.</summary>
    public IPNetwork Ipv4 { get; }

    /// <summary>Its IPv6 prefix.</summary>
    public IPNetwork Ipv6 { get; }

    /// <summary>Packets the subnet's switch dropped, by reason (no route, a link down).</summary>
    public NetStack.Diagnostics.ReasonCounters<InMemorySwitchDrop> Drops => Network.Drops;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Ipv4}, {Ipv6})";

    internal InMemoryNetwork Network { get; }

    internal int Index { get; }

    /// <summary>The subnets this one has a route to (through a router port).</summary>
    internal HashSet<VirtualSubnet> Routed { get; } = [];
}

/// <summary>
/// A router joining two subnets: a port on each (<see cref="A"/>, <see cref="B"/>), each with its own impairments,
/// forwarding every packet not addressed to it from one to the other with the hop limit decremented. It answers
/// pings on its own addresses; it sends no ICMP errors.
/// </summary>
public sealed class VirtualRouter
{
    internal VirtualRouter(string name, VirtualLink a, VirtualLink b, Network.NetworkStack stack)
    {
        Name = name;
        A = a;
        B = b;
        Stack = stack;
    }

    /// <summary>The router's name (its ports are named name@subnet).</summary>
    public string Name { get; }

    /// <summary>Its port on the first subnet.</summary>
    public VirtualLink A { get; }

    /// <summary>Its port on the second subnet.</summary>
    public VirtualLink B { get; }

    /// <summary>Its port on <paramref name="subnet"/>.</summary>
    public VirtualLink this[VirtualSubnet subnet] => subnet == A.Subnet ? A : subnet == B.Subnet ? B
        : throw new ArgumentException($"Router {Name} has no port on subnet {subnet.Name}.", nameof(subnet));

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({A.Subnet.Name} ⇄ {B.Subnet.Name})";

    internal Network.NetworkStack Stack { get; }
}
