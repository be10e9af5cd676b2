// Layer: simulated links. N stacks on one in-memory segment: each host gets a stack (or brings one), a NIC over a
// channel endpoint, IPv4 and IPv6 addresses, and a port on a switch; a wire pumps every port, live on the system
// clock or deterministically under a driver. The demo, the two-stack tests, the TCP simulations and Bench use it.
using System.Buffers.Binary;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Link.Capture;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Simulation;

namespace NetStack.Link.Simulation;

/// <summary>
/// Stacks joined by one in-memory switched segment, built in a line and torn down with one <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para><see cref="AddHost"/> makes a stack with a NIC on the segment, an IPv4 and an IPv6 address (the next of
/// <see cref="InMemoryNetworkOptions.Ipv4Subnet"/> and <see cref="InMemoryNetworkOptions.Ipv6Subnet"/>: 10.0.0.1 and
/// fd00::1, then .2 and ::2, …), TCP and UDP ready; <see cref="Attach"/> gives a port to a stack made elsewhere (a
/// router on two networks). The switch forwards each packet to the host owning its destination address, or along a
/// route (<see cref="AddRoute"/>); per host and direction there is an impairment (changeable at run time), an
/// optional pcap capture and decorators of your own.</para>
/// <para>Live mode (the default) runs on the system clock with a background pump. Deterministic mode runs on a
/// <see cref="ManualClock"/> that only <see cref="Driver"/> moves, pumping the wire between steps: with the same
/// seed the same steps replay byte for byte (ARCHITECTURE.md §5).</para>
/// <para><see cref="Dispose"/> (or <see cref="DisposeAsync"/>) stops the pump, disposes the stacks the network made,
/// releases every packet on the wire, closes the links and finishes the captures, in that order.</para>
/// </remarks>
public sealed class InMemoryNetwork : IDisposable, IAsyncDisposable
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = new("NetStack.Link.Simulation.Network", "1.0");

    private readonly Lock _gate = new();      // the host list
    private readonly Lock _joinGate = new();  // one host joins at a time
    private readonly List<InMemoryHost> _hosts = [];
    private readonly InMemorySwitch _switch;
    private readonly PipeLink _wire;
    private readonly CancellationTokenSource? _stop;
    private readonly Task? _pump;
    private int _disposed;

    /// <summary>Creates an empty network; in live mode its pump starts at once.</summary>
    public InMemoryNetwork(InMemoryNetworkOptions? options = null)
    {
        Options = options ?? new InMemoryNetworkOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.Mtu, 1280, nameof(options));
        if (Options.Ipv4Subnet.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || Options.Ipv6Subnet.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException("Ipv4Subnet must be an IPv4 network and Ipv6Subnet an IPv6 one.", nameof(options));
        }
        Pool = Options.Pool ?? PacketBufferPool.Shared;
        var tags = new KeyValuePair<string, object?>[] { new("network", Options.Name) };
        ILogger logger = Options.Stack?.LoggerFactory?.CreateLogger("NetStack.Link.Simulation") ?? NullLogger.Instance;
        _switch = new InMemorySwitch(new ReasonCounters<InMemorySwitchDrop>(s_meter, "netstack.link.network.drops", "Packets the in-memory switch dropped", tags),
            new FaultLog(logger, TimeProvider.System, $"network {Options.Name}'s switch"));
        if (Options.Mode == InMemoryNetworkMode.Deterministic)
        {
            ManualClock clock = Options.Clock ?? new ManualClock();
            Clock = clock;
            _wire = new PipeLink(WireOptions(clock));
            Driver = new SimulationDriver(clock, _wire);
        }
        else
        {
            Clock = TimeProvider.System;
            _wire = new PipeLink(WireOptions(Clock));
            _stop = new CancellationTokenSource();
            _pump = _wire.RunAsync(_stop.Token);
        }
    }

    /// <summary>The options the network was made with.</summary>
    public InMemoryNetworkOptions Options { get; }

    /// <summary>The clock of every stack the network makes, of the impairments and of the captures.</summary>
    public TimeProvider Clock { get; }

    /// <summary>Deterministic mode's driver (its <see cref="SimulationDriver.Clock"/> is the network's); null in live mode.</summary>
    public SimulationDriver? Driver { get; }

    /// <summary>The pool of the stacks the network makes.</summary>
    public PacketBufferPool Pool { get; }

    /// <summary>The hosts, in the order they joined.</summary>
    public IReadOnlyList<InMemoryHost> Hosts
    {
        get
        {
            lock (_gate)
            {
                return [.. _hosts];
            }
        }
    }

    /// <summary>Packets the switch dropped, by reason.</summary>
    public ReasonCounters<InMemorySwitchDrop> Drops => _switch.Drops;

    /// <summary>Makes a stack (TCP and UDP ready) with a NIC on the network and adds it as a host.</summary>
    public InMemoryHost AddHost(InMemoryHostOptions? options = null)
    {
        options ??= new InMemoryHostOptions();
        lock (_joinGate)
        {
            return AddHostCore(options);
        }
    }

    /// <summary>Gives a stack made elsewhere a NIC on the network; the network closes the link but leaves the stack to its owner.</summary>
    public InMemoryHost Attach(NetworkStack stack, InMemoryHostOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        lock (_joinGate)
        {
            return Join(stack, ownsStack: false, options ?? new InMemoryHostOptions(), NextIndex());
        }
    }

    /// <summary>
    /// Sends packets for <paramref name="destination"/> that no host owns to <paramref name="via"/> (a router's port
    /// to another network). The longest matching route wins.
    /// </summary>
    public void AddRoute(IPNetwork destination, InMemoryHost via)
    {
        ArgumentNullException.ThrowIfNull(via);
        if (via.Network != this)
        {
            throw new ArgumentException("The route's host is on another network.", nameof(via));
        }
        _switch.AddRoute(new NetPrefix(NetAddress.FromIPAddress(destination.BaseAddress), destination.PrefixLength), via);
    }

    /// <summary>
    /// Makes the live pump look again at every host's chains (a decorator of <see cref="InMemoryHostOptions.Outbound"/>
    /// or <see cref="InMemoryHostOptions.Inbound"/> has packets to release that no new packet or delay will announce).
    /// </summary>
    public void Wake() => _wire.Wake();

    /// <summary>Stops the pump, disposes the stacks the network made, releases every packet on the wire, closes the links and finishes the captures.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_stop is not null)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _pump!.ConfigureAwait(false);
            _stop.Dispose();
        }
        InMemoryHost[] hosts;
        lock (_gate)
        {
            hosts = [.. _hosts];
        }
        foreach (InMemoryHost host in hosts)
        {
            if (host.OwnsStack)
            {
                host.Stack.Dispose();
            }
        }
        foreach (InMemoryHost host in hosts)
        {
            host.DisposeChains();
        }
        _wire.Dispose();
        foreach (InMemoryHost host in hosts)
        {
            host.Link.Close();
        }
        foreach (InMemoryHost host in hosts)
        {
            if (host.Capture is { } capture)
            {
                await capture.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Seed of a host's impairment stage: port 0 outbound takes the network's seed, each later stage one derived from it.</summary>
    internal int StageSeed(int index, bool inbound)
    {
        int seed = inbound ? unchecked(Options.Seed + 0x6A09E667) : Options.Seed;
        for (int i = 0; i < index; i++)
        {
            seed = unchecked((seed * -1640531535) + 0x7F4A7C15);
        }
        return seed;
    }

    /// <summary>An impairment changed: the wire splits super-segments where an impaired path may carry them (<see cref="PipeLinkGso.Auto"/>).</summary>
    internal void OnImpairmentChanged()
    {
        lock (_gate)
        {
            bool anyInbound = _hosts.Exists(h => h.HasImpairment(inbound: true));
            foreach (InMemoryHost host in _hosts)
            {
                host.Wire.SplitsGso = Options.WireGso switch
                {
                    PipeLinkGso.Split => true,
                    PipeLinkGso.PassThrough => false,
                    _ => anyInbound || host.HasImpairment(inbound: false),
                };
            }
        }
        _wire.Wake();
    }

    private PipeLinkOptions WireOptions(TimeProvider clock) => new()
    {
        TimeProvider = clock,
        BatchSize = Options.BatchSize,
        MaxBatchesPerPump = Options.MaxBatchesPerPump,
        Gso = Options.WireGso,
        Name = Options.Name,
        LoggerFactory = Options.Stack?.LoggerFactory,
    };

    private int NextIndex()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_gate)
        {
            return _hosts.Count;
        }
    }

    private InMemoryHost AddHostCore(InMemoryHostOptions options)
    {
        int index = NextIndex();
        NetworkStackOptions stackOptions = (options.Stack ?? Options.Stack ?? new NetworkStackOptions()) with { TimeProvider = Clock, Pool = Pool };
        if (Options.Mode == InMemoryNetworkMode.Deterministic)
        {
            // Nothing random: the stack's choices and TCP's ISN key follow from the seed and the host's place.
            int seed = unchecked((Options.Seed * 1000) + index);
            stackOptions = stackOptions with
            {
                RandomSeed = stackOptions.RandomSeed ?? seed,
                Tcp = stackOptions.Tcp with
                {
                    IsnSecret = stackOptions.Tcp.IsnSecret ?? BitConverter.GetBytes(seed),
                    RandomSeed = stackOptions.Tcp.RandomSeed ?? seed,
                },
            };
        }
        var stack = new NetworkStack(stackOptions);
        try
        {
            return Join(stack, ownsStack: true, options, index);
        }
        catch
        {
            stack.Dispose();
            throw;
        }
    }

    private InMemoryHost Join(NetworkStack stack, bool ownsStack, InMemoryHostOptions options, int index)
    {
        string name = options.Name ?? $"host{index + 1}";
        IPAddress ipv4 = options.Ipv4 ?? Nth(Options.Ipv4Subnet, index + 1);
        IPAddress ipv6 = options.Ipv6 ?? Nth(Options.Ipv6Subnet, index + 1);
        if (ipv4.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || ipv6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException("Ipv4 must be an IPv4 address and Ipv6 an IPv6 one.", nameof(options));
        }
        NetAddress[] addresses = [NetAddress.FromIPAddress(ipv4), NetAddress.FromIPAddress(ipv6)];
        if (Array.Find(addresses, _switch.IsTaken) is { IsNone: false } taken)
        {
            throw new ArgumentException($"{taken} belongs to another host already.", nameof(options));
        }
        var link = new ChannelEndpoint(new ChannelEndpointOptions
        {
            Name = name,
            Mtu = options.Mtu ?? Options.Mtu,
            Gso = options.Gso ?? Options.Gso,
            EnableGro = options.Gro ?? Options.Gro,
            GroMaxFlows = Options.GroMaxFlows,
            OutboundQueueCapacity = Options.OutboundQueueCapacity,
            LoggerFactory = stack.Options.LoggerFactory,
        });
        PcapWriter? capture = null;
        try
        {
            if (options.PcapPath is { } path)
            {
                PcapWriterOptions pcap = options.Pcap ?? new PcapWriterOptions { Synchronous = Options.Mode == InMemoryNetworkMode.Deterministic };
                capture = new PcapWriter(path, pcap.TimeProvider is null ? pcap with { TimeProvider = Clock } : pcap);
            }
            var host = new InMemoryHost(this, index, name, stack, ownsStack, link, ipv4, ipv6, capture, options, _switch);
            lock (_gate)
            {
                host.Nic.AddAddress(new NetPrefix(addresses[0], SamePrefix(ipv4, Options.Ipv4Subnet)));
                host.Nic.AddAddress(new NetPrefix(addresses[1], SamePrefix(ipv6, Options.Ipv6Subnet)));
                _switch.AddHost(host, addresses);
                host.Wire = _wire.Add(link, host.OutboundEntry, splitGso: false);
                _hosts.Add(host);
            }
            OnImpairmentChanged();
            return host;
        }
        catch
        {
            link.Close();
            capture?.Dispose();
            throw;
        }
    }

    /// <summary>The prefix length of <paramref name="subnet"/> when <paramref name="address"/> lies in it, else a host route.</summary>
    private static int SamePrefix(IPAddress address, IPNetwork subnet) =>
        subnet.Contains(address) ? subnet.PrefixLength : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;

    /// <summary>The <paramref name="n"/>-th address of <paramref name="subnet"/>.</summary>
    /// <exception cref="InvalidOperationException">The subnet has no room for it.</exception>
    private static IPAddress Nth(IPNetwork subnet, int n)
    {
        Span<byte> bytes = stackalloc byte[16];
        _ = subnet.BaseAddress.TryWriteBytes(bytes, out int length);
        bytes = bytes[..length];
        int hostBits = (length * 8) - subnet.PrefixLength;
        if (hostBits < 31 && n >= (1 << hostBits) - 1)
        {
            // Past the last host address (for IPv4, the broadcast address).
            throw new InvalidOperationException($"{subnet} has no address for host {n}: name its addresses or use a larger subnet.");
        }
        if (length == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, BinaryPrimitives.ReadUInt32BigEndian(bytes) + (uint)n);
        }
        else
        {
            BinaryPrimitives.WriteUInt128BigEndian(bytes, BinaryPrimitives.ReadUInt128BigEndian(bytes) + (UInt128)n);
        }
        return new IPAddress(bytes);
    }
}
