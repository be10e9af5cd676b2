// One port on a virtual subnet (a host's, or a router's leg): its impairments per direction, changeable at any
// moment, an MTU black hole, link down/up, and what its faults dropped.
using NetStack.Diagnostics;
using NetStack.Link.Simulation;

namespace NetStack.Simulation;

/// <summary>Why the harness dropped a packet (impairments and the switch count their own).</summary>
public enum FaultDrop
{
    /// <summary>The two hosts are partitioned (<see cref="VirtualNetwork.Partition(string, string)"/>).</summary>
    Partition,
    /// <summary>Longer than the link's <see cref="VirtualLink.Mtu"/> (a path-MTU black hole).</summary>
    TooBig,
    /// <summary>A rule dropped it (<see cref="VirtualNetwork.AddRule"/>).</summary>
    Rule,
    /// <summary>A router's forwarding: hop limit exhausted, or the next leg's queue was full.</summary>
    Forwarding,
    /// <summary>Held (<see cref="VirtualNetwork.Hold(string, string)"/>) when the network was disposed.</summary>
    HeldAtDispose,
}

/// <summary>
/// A port on a subnet's switch: what its owner sends leaves through <see cref="Outbound"/>'s impairment, what it
/// receives arrives through <see cref="Inbound"/>'s. Every setter takes effect with the next packet, from any thread,
/// and checks its value at once (an <see cref="ArgumentException"/> naming the field).
/// </summary>
public sealed class VirtualLink
{
    private readonly InMemoryHost _port;
    private ImpairmentOptions? _outbound;
    private ImpairmentOptions? _inbound;
    private int _mtu; // 0: none

    internal VirtualLink(VirtualNetwork network, string owner, VirtualSubnet subnet, InMemoryHost port, int interfaceId)
    {
        Network = network;
        Owner = owner;
        Subnet = subnet;
        _port = port;
        InterfaceId = interfaceId;
    }

    /// <summary>The host or router the port belongs to.</summary>
    public string Owner { get; }

    /// <summary>The subnet the port is on.</summary>
    public VirtualSubnet Subnet { get; }

    /// <summary>The port's name in captures: owner@subnet.</summary>
    public string Name => $"{Owner}@{Subnet.Name}";

    /// <summary>
    /// What happens to packets the owner sends (loss, bursts, delay and its distribution, rate, queue limit,
    /// reorder, duplicate, corrupt); null for a perfect wire. Packets the old setting still held are discarded.
    /// </summary>
    public ImpairmentOptions? Outbound
    {
        get => Volatile.Read(ref _outbound);
        set
        {
            value?.Validate();
            _port.SetOutboundImpairment(value is { IsTransparent: true } ? null : value);
            Volatile.Write(ref _outbound, value);
        }
    }

    /// <summary>What happens to packets the owner receives, as <see cref="Outbound"/>.</summary>
    public ImpairmentOptions? Inbound
    {
        get => Volatile.Read(ref _inbound);
        set
        {
            value?.Validate();
            _port.SetInboundImpairment(value is { IsTransparent: true } ? null : value);
            Volatile.Write(ref _inbound, value);
        }
    }

    /// <summary>
    /// Largest packet the port lets out (null: the link's MTU): longer ones vanish, counted under
    /// <see cref="FaultDrop.TooBig"/>, and no ICMP error tells the sender (a path-MTU black hole).
    /// </summary>
    public int? Mtu
    {
        get => Volatile.Read(ref _mtu) is int m and > 0 ? m : null;
        set
        {
            if (value is int m)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(m, 68, nameof(Mtu)); // RFC 791: every IPv4 module takes 68 bytes
            }
            Volatile.Write(ref _mtu, value ?? 0);
        }
    }

    /// <summary>True while the link is up; a link that is down drops everything from and to its owner.</summary>
    public bool IsUp => _port.Connected;

    /// <summary>Packets the harness dropped at this port, by reason.</summary>
    public ReasonCounters<FaultDrop> Drops { get; } = new();

    /// <summary>The stage impairing what the owner sends (its counters), or null.</summary>
    public ImpairmentStage? OutboundStage => _port.OutboundImpairment;

    /// <summary>The stage impairing what the owner receives, or null.</summary>
    public ImpairmentStage? InboundStage => _port.InboundImpairment;

    /// <summary>Sets both directions at once.</summary>
    public void Set(ImpairmentOptions? both)
    {
        both?.Validate();
        Outbound = both;
        Inbound = both;
    }

    /// <summary>Takes the link down: the switch drops everything from and to the owner until <see cref="Up"/>.</summary>
    public void Down() => _port.Connected = false;

    /// <summary>Brings the link back up.</summary>
    public void Up() => _port.Connected = true;

    /// <inheritdoc/>
    public override string ToString() => Name;

    internal VirtualNetwork Network { get; }

    internal int InterfaceId { get; }

    internal InMemoryHost Port => _port;

    internal int MtuFast => Volatile.Read(ref _mtu);
}
