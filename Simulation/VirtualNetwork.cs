// The harness's front door: a network of named hosts on subnets joined by routers, with built-in DNS, faults
// (partitions, held pairs, rules), a pcapng capture, per-host summaries and one ordered teardown.
using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Buffers;
using NetStack.Link.Simulation;
using NetStack.Network;

namespace NetStack.Simulation;

/// <summary>
/// A virtual network of named hosts for tests: <c>var net = new VirtualNetwork(); var api = net.AddHost("api");</c>.
/// Each host is a userspace stack with an IPv4 and an IPv6 address on a subnet; hosts find each other by name
/// (<c>http://api/</c>), subnets are joined by routers, and every port's impairments, partitions, held pairs and
/// rules can change at any moment. <see cref="DisposeAsync"/> tears everything down in order.
/// </summary>
public sealed partial class VirtualNetwork : IDisposable, IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<VirtualSubnet> _subnets = [];
    private VirtualSubnet[] _subnetSnapshot = []; // copy-on-write: what the driver pumps each step, read without the lock
    private readonly List<VirtualRouter> _routers = [];
    private readonly bool _ownsPool;
    private Dictionary<string, VirtualHost> _hosts = new(StringComparer.OrdinalIgnoreCase); // copy-on-write
    private Dictionary<NetAddress, string> _owners = []; // copy-on-write: address → host or router name
    private readonly List<VirtualLink> _links = [];
    private int _disposed;

    /// <summary>Creates a network with one subnet ("default": 10.0.0.0/24 and fd00::/64).</summary>
    /// <param name="seed">Seeds every impairment and, in virtual time, every stack's random choices.</param>
    /// <param name="time">Real time (the default) or virtual time.</param>
    /// <param name="capturePath">A pcapng file of every link, or null.</param>
    public VirtualNetwork(int seed = 1, NetworkTime time = NetworkTime.Real, string? capturePath = null)
        : this(new VirtualNetworkOptions { Seed = seed, Time = time, CapturePath = capturePath })
    {
    }

    /// <summary>Creates a network from <paramref name="options"/> (validated here).</summary>
    public VirtualNetwork(VirtualNetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _ownsPool = options.Pool is null;
        Pool = options.Pool ?? new PacketBufferPool(name: "virtual-network");
        if (options.Time == NetworkTime.Virtual)
        {
            VirtualClock = new ManualClock();
            Clock = VirtualClock;
        }
        else
        {
            Clock = TimeProvider.System;
        }
        if (options.CapturePath is { } path)
        {
            Capture = new PcapNgWriter(path, Clock);
        }
        DefaultSubnet = AddSubnet("default", options.Ipv4Subnet, options.Ipv6Subnet);
    }

    /// <summary>The options the network was made with.</summary>
    public VirtualNetworkOptions Options { get; }

    /// <summary>The clock of every stack, impairment and capture: the system's, or the virtual clock.</summary>
    public TimeProvider Clock { get; }

    /// <summary>True in virtual time.</summary>
    public bool IsVirtualTime => VirtualClock is not null;

    /// <summary>The pool of every stack's packets.</summary>
    public PacketBufferPool Pool { get; }

    /// <summary>The capture of every link, or null.</summary>
    public PcapNgWriter? Capture { get; }

    /// <summary>The subnet hosts join unless told otherwise.</summary>
    public VirtualSubnet DefaultSubnet { get; }

    /// <summary>The subnets, in the order they were added.</summary>
    public IReadOnlyList<VirtualSubnet> Subnets
    {
        get
        {
            lock (_gate)
            {
                return [.. _subnets];
            }
        }
    }

    /// <summary>The hosts, in the order they were added.</summary>
    public IReadOnlyList<VirtualHost> Hosts => [.. Volatile.Read(ref _hosts).Values.OrderBy(h => h.Index)];

    /// <summary>The routers, in the order they were added.</summary>
    public IReadOnlyList<VirtualRouter> Routers
    {
        get
        {
            lock (_gate)
            {
                return [.. _routers];
            }
        }
    }

    /// <summary>The host called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No host has that name (the message lists those that exist).</exception>
    public VirtualHost this[string name] => Volatile.Read(ref _hosts).TryGetValue(name, out VirtualHost? host) ? host
        : throw new KeyNotFoundException($"No host is called '{name}' (hosts: {string.Join(", ", Hosts.Select(h => h.Name))}).");

    /// <summary>
    /// Adds a subnet with its own switch. Its prefixes may not overlap another subnet's; hosts on it reach other
    /// subnets only through routers (<see cref="AddRouter"/>).
    /// </summary>
    public VirtualSubnet AddSubnet(string name, string ipv4Prefix, string ipv6Prefix) =>
        AddSubnet(name, ParsePrefix(ipv4Prefix, nameof(ipv4Prefix)), ParsePrefix(ipv6Prefix, nameof(ipv6Prefix)));

    /// <inheritdoc cref="AddSubnet(string, string, string)"/>
    public VirtualSubnet AddSubnet(string name, IPNetwork ipv4Prefix, IPNetwork ipv6Prefix)
    {
        CheckName(name, nameof(name));
        if (ipv4Prefix.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"{ipv4Prefix} is not an IPv4 prefix.", nameof(ipv4Prefix));
        }
        if (ipv6Prefix.BaseAddress.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"{ipv6Prefix} is not an IPv6 prefix.", nameof(ipv6Prefix));
        }
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ipv4Prefix.PrefixLength, 30, nameof(ipv4Prefix));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ipv6Prefix.PrefixLength, 126, nameof(ipv6Prefix));
        lock (_gate)
        {
            ThrowIfDisposed();
            foreach (VirtualSubnet other in _subnets)
            {
                if (other.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException($"A subnet is called '{name}' already.", nameof(name));
                }
                if (Overlap(other.Ipv4, ipv4Prefix))
                {
                    throw new ArgumentException($"{ipv4Prefix} overlaps subnet {other.Name}'s {other.Ipv4}.", nameof(ipv4Prefix));
                }
                if (Overlap(other.Ipv6, ipv6Prefix))
                {
                    throw new ArgumentException($"{ipv6Prefix} overlaps subnet {other.Name}'s {other.Ipv6}.", nameof(ipv6Prefix));
                }
            }
            int index = _subnets.Count;
            var network = new InMemoryNetwork(new InMemoryNetworkOptions
            {
                Mode = IsVirtualTime ? InMemoryNetworkMode.Deterministic : InMemoryNetworkMode.Live,
                Clock = VirtualClock,
                Seed = unchecked(Options.Seed + (index * 7919)),
                Pool = Pool,
                Ipv4Subnet = ipv4Prefix,
                Ipv6Subnet = ipv6Prefix,
                Mtu = Options.Mtu,
                WireGso = PipeLinkGso.Split, // the wire carries what a real one would: captures and MTU faults see wire packets
                Stack = Options.Stack,
                Name = name,
            });
            var subnet = new VirtualSubnet(name, ipv4Prefix, ipv6Prefix, network, index);
            _subnets.Add(subnet);
            Volatile.Write(ref _subnetSnapshot, [.. _subnets]);
            return subnet;
        }
    }

    /// <summary>Adds a host called <paramref name="name"/> (a DNS label) on <paramref name="subnet"/> (the default one when null).</summary>
    public VirtualHost AddHost(string name, VirtualSubnet? subnet = null, VirtualHostOptions? options = null)
    {
        CheckName(name, nameof(name));
        options ??= new VirtualHostOptions();
        subnet ??= DefaultSubnet;
        CheckSubnet(subnet);
        if (options.Ipv4 is { } v4 && (v4.AddressFamily != AddressFamily.InterNetwork || !subnet.Ipv4.Contains(v4)))
        {
            throw new ArgumentException($"{v4} is not an address of subnet {subnet.Name} ({subnet.Ipv4}).", nameof(options) + "." + nameof(options.Ipv4));
        }
        if (options.Ipv6 is { } v6 && (v6.AddressFamily != AddressFamily.InterNetworkV6 || !subnet.Ipv6.Contains(v6)))
        {
            throw new ArgumentException($"{v6} is not an address of subnet {subnet.Name} ({subnet.Ipv6}).", nameof(options) + "." + nameof(options.Ipv6));
        }
        if (options.Mtu is int mtu)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 1280, nameof(options) + "." + nameof(options.Mtu));
        }
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfNameTaken(name);
            (InMemoryHost port, VirtualLink link) = Join(subnet, name, null, options.Ipv4, options.Ipv6, options.Mtu, options.Stack, forwardTo: null);
            var host = new VirtualHost(this, name, subnet, port, link, Volatile.Read(ref _hosts).Count);
            AddDefaultRoutes(port);
            var hosts = new Dictionary<string, VirtualHost>(_hosts, StringComparer.OrdinalIgnoreCase) { [name] = host };
            Volatile.Write(ref _hosts, hosts);
            return host;
        }
    }

    /// <summary>
    /// Adds a router called <paramref name="name"/> with a port on <paramref name="a"/> and one on
    /// <paramref name="b"/>. Hosts on either side then reach the other (and what lies beyond other routers) through it.
    /// </summary>
    public VirtualRouter AddRouter(string name, VirtualSubnet a, VirtualSubnet b)
    {
        CheckName(name, nameof(name));
        CheckSubnet(a);
        CheckSubnet(b);
        if (a == b)
        {
            throw new ArgumentException($"A router joins two different subnets; both are {a.Name}.", nameof(b));
        }
        lock (_gate)
        {
            ThrowIfDisposed();
            ThrowIfNameTaken(name);
            var stack = new NetworkStack((Options.Stack ?? new NetworkStackOptions()) with { TimeProvider = Clock, Pool = Pool });
            try
            {
                var forwardA = new ForwardSlot();
                var forwardB = new ForwardSlot();
                (InMemoryHost portA, VirtualLink linkA) = Join(a, name, stack, null, null, null, null, forwardA);
                (InMemoryHost portB, VirtualLink linkB) = Join(b, name, stack, null, null, null, null, forwardB);
                forwardA.Tap!.ForwardTo = portB.Link;
                forwardB.Tap!.ForwardTo = portA.Link;
                var router = new VirtualRouter(name, linkA, linkB, stack);
                _routers.Add(router);
                RecomputeRoutes();
                return router;
            }
            catch
            {
                stack.Dispose();
                throw;
            }
        }
    }

    /// <summary>The addresses of <paramref name="name"/> (IPv4 first), or of an IP literal; throws <see cref="SocketException"/> (HostNotFound) for an unknown name, as DNS would.</summary>
    public IPAddress[] Resolve(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (IPAddress.TryParse(name.Trim('[', ']'), out IPAddress? literal))
        {
            return [literal];
        }
        if (Volatile.Read(ref _hosts).TryGetValue(name.TrimEnd('.'), out VirtualHost? host))
        {
            return [host.Ipv4, host.Ipv6];
        }
        throw new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>Frees the packet pool's and stacks' memory: stops the pumps, disposes every stack, closes links and the capture, in that order.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        VirtualSubnet[] subnets;
        VirtualRouter[] routers;
        lock (_gate)
        {
            subnets = [.. _subnets];
            routers = [.. _routers];
        }
        foreach (VirtualHost host in Hosts)
        {
            await host.DisposeAppsAsync().ConfigureAwait(false);
        }
        foreach (VirtualSubnet subnet in subnets)
        {
            await subnet.Network.DisposeAsync().ConfigureAwait(false);
        }
        foreach (VirtualRouter router in routers)
        {
            router.Stack.Dispose();
        }
        Capture?.Dispose();
    }

    /// <summary>
    /// Disposes the network and reports what a test left behind: TCP connections still open, listeners and UDP
    /// sockets still bound on a stack after the harness closed what its helpers made, and packet buffers still rented
    /// once everything is gone (with a pool of the network's own). Null when nothing leaked. Connections the harness
    /// closed get time to finish their close first (up to a second of real time, or two minutes of virtual time run
    /// here), so only those nobody closed are reported; a leak costs the report, never a hang.
    /// </summary>
    public async Task<string?> DisposeAndCheckLeaksAsync()
    {
        var leaks = new List<string>();
        foreach (VirtualHost host in Hosts)
        {
            await host.DisposeAppsAsync().ConfigureAwait(false);
        }
        await SettleConnectionsAsync().ConfigureAwait(false);
        foreach (VirtualHost host in Hosts)
        {
            int connections = OpenConnections(host), listeners = host.Stack.Tcp.ListenerCount, sockets = host.Stack.Udp.BoundCount;
            if (connections + listeners + sockets > 0)
            {
                leaks.Add($"{host.Name}: {connections} TCP connection(s) not closed, {listeners} TCP listener(s) and {sockets} UDP socket(s) still open " +
                    "(made on the stack or a handler of the test's own and never disposed)");
            }
        }
        await DisposeAsync().ConfigureAwait(false);
        if (_ownsPool && (Pool.LiveBuffers != 0 || Pool.LiveChunks != 0))
        {
            leaks.Add($"{Pool.LiveBuffers} packet buffer(s) and {Pool.LiveChunks} chunk(s) still rented after disposal: {Pool.DescribeLive()}");
        }
        return leaks.Count == 0 ? null : string.Join(Environment.NewLine, leaks);
    }

    /// <summary>Connections of <paramref name="host"/> neither closed nor in TIME-WAIT (RFC 9293 §3.3.2: what remains once both sides closed).</summary>
    private static int OpenConnections(VirtualHost host) => host.Stack.Tcp.ConnectionCount - host.Stack.Tcp.TimeWaitCount;

    private bool AnyOpenConnection() => Hosts.Any(h => OpenConnections(h) > 0);

    /// <summary>Lets closing connections finish: real time polls for a second; virtual time pumps and jumps the clock (two minutes at most, outside any scenario).</summary>
    private async Task SettleConnectionsAsync()
    {
        if (!IsVirtualTime)
        {
            long until = Environment.TickCount64 + 1000;
            while (AnyOpenConnection() && Environment.TickCount64 < until)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
            return;
        }
        if (Volatile.Read(ref _driver) != -1)
        {
            return; // inside a scenario: the driver is busy, report what is open now
        }
        ManualClock clock = VirtualClock!;
        TimeSpan deadline = clock.Elapsed + TimeSpan.FromMinutes(2);
        while (true)
        {
            if (PumpAll() > 0)
            {
                continue; // the wire drains too: the last ACK of a close is not left in flight
            }
            if (!AnyOpenConnection())
            {
                return;
            }
            if (NextEvent() is not TimeSpan next || clock.Elapsed + next > deadline)
            {
                return;
            }
            clock.Advance(next);
        }
    }

    /// <summary>One line per host and router: connections, retransmissions, timeouts and drops by reason.</summary>
    public string Summary()
    {
        var text = new StringBuilder();
        text.Append("virtual network, seed ").Append(Options.Seed).Append(", ").Append(IsVirtualTime ? $"virtual time {VirtualClock!.Elapsed}" : "real time").AppendLine();
        foreach (VirtualHost host in Hosts)
        {
            text.AppendLine(host.Summary().ToString());
        }
        foreach (VirtualRouter router in Routers)
        {
            text.Append("  router ").Append(router).Append(": ").Append(LinkDrops(router.A)).Append(" | ").AppendLine(LinkDrops(router.B));
        }
        foreach (VirtualSubnet subnet in Subnets)
        {
            if (subnet.Drops.Total > 0)
            {
                text.Append("  subnet ").Append(subnet.Name).Append(" switch drops: ").AppendLine(subnet.Drops.ToString());
            }
        }
        if (Capture is not null)
        {
            text.Append("  capture: ").Append(Capture.Path).Append(" (").Append(Capture.Packets).AppendLine(" packets)");
        }
        return text.ToString();
    }

    internal ManualClock? VirtualClock { get; }

    /// <summary>The name of the host or router owning <paramref name="address"/>, or null.</summary>
    internal string? OwnerOf(NetAddress address) => Volatile.Read(ref _owners).TryGetValue(address, out string? name) ? name : null;

    internal static string LinkDrops(VirtualLink link)
    {
        var parts = new List<string>();
        if (link.Drops.Total > 0)
        {
            parts.Add($"faults {link.Drops}");
        }
        if (link.OutboundStage is { Dropped: > 0 } o)
        {
            parts.Add($"out loss={o.DroppedLoss} queue_full={o.DroppedQueueFull} discarded={o.Discarded}");
        }
        if (link.InboundStage is { Dropped: > 0 } i)
        {
            parts.Add($"in loss={i.DroppedLoss} queue_full={i.DroppedQueueFull} discarded={i.Discarded}");
        }
        return parts.Count == 0 ? $"{link.Name} no drops" : $"{link.Name} {string.Join("; ", parts)}";
    }

    private (InMemoryHost Port, VirtualLink Link) Join(VirtualSubnet subnet, string name, NetworkStack? stack, IPAddress? ipv4, IPAddress? ipv6,
        int? mtu, NetworkStackOptions? stackOptions, ForwardSlot? forwardTo)
    {
        FaultGate? gate = null;
        InboundTap? tap = null;
        var hostOptions = new InMemoryHostOptions
        {
            Name = name,
            Ipv4 = ipv4 ?? NextFree(subnet.Ipv4, subnet),
            Ipv6 = ipv6 ?? NextFree(subnet.Ipv6, subnet),
            Mtu = mtu,
            Stack = stackOptions,
            Outbound = sink => gate = new FaultGate(sink, this),
            Inbound = sink => tap = new InboundTap(sink, this),
        };
        CheckAddressFree(hostOptions.Ipv4);
        CheckAddressFree(hostOptions.Ipv6);
        InMemoryHost port = stack is null ? subnet.Network.AddHost(hostOptions) : subnet.Network.Attach(stack, hostOptions);
        int interfaceId = Capture?.AddInterface($"{name}@{subnet.Name}", $"{name} on subnet {subnet.Name}: {port.Ipv4}, {port.Ipv6}") ?? -1;
        var link = new VirtualLink(this, name, subnet, port, interfaceId);
        gate!.Link = link;
        tap!.Link = link;
        if (forwardTo is not null)
        {
            forwardTo.Tap = tap;
        }
        var owners = new Dictionary<NetAddress, string>(_owners)
        {
            [NetAddress.FromIPAddress(port.Ipv4)] = name,
            [NetAddress.FromIPAddress(port.Ipv6)] = name,
        };
        Volatile.Write(ref _owners, owners);
        _links.Add(link);
        return (port, link);
    }

    /// <summary>Hosts send everything off their subnet to the switch, which routes it (there is no ARP or gateway on these links).</summary>
    private static void AddDefaultRoutes(InMemoryHost port)
    {
        port.Stack.Routes.Add(new Route(new NetPrefix(NetAddress.FromV4(0), 0), port.Nic));
        port.Stack.Routes.Add(new Route(new NetPrefix(NetAddress.FromV6(UInt128.Zero), 0), port.Nic));
    }

    /// <summary>Gives each subnet a switch route to every subnet it can reach, through its first-hop router port (breadth first).</summary>
    private void RecomputeRoutes()
    {
        foreach (VirtualSubnet from in _subnets)
        {
            var firstHop = new Dictionary<VirtualSubnet, VirtualLink>();
            var queue = new Queue<VirtualSubnet>([from]);
            var seen = new HashSet<VirtualSubnet> { from };
            while (queue.TryDequeue(out VirtualSubnet? at))
            {
                foreach (VirtualRouter router in _routers)
                {
                    if (router.A.Subnet != at && router.B.Subnet != at)
                    {
                        continue;
                    }
                    VirtualSubnet next = router.A.Subnet == at ? router.B.Subnet : router.A.Subnet;
                    if (seen.Add(next))
                    {
                        firstHop[next] = at == from ? router[from] : firstHop[at];
                        queue.Enqueue(next);
                    }
                }
            }
            foreach ((VirtualSubnet to, VirtualLink via) in firstHop)
            {
                if (from.Routed.Add(to))
                {
                    from.Network.AddRoute(to.Ipv4, via.Port);
                    from.Network.AddRoute(to.Ipv6, via.Port);
                }
            }
        }
    }

    private IPAddress NextFree(IPNetwork prefix, VirtualSubnet subnet)
    {
        // The subnet's next address by join order (the in-memory network numbers its ports the same way), skipping taken ones.
        int n = subnet.Network.Hosts.Count + 1;
        while (true)
        {
            IPAddress candidate = Nth(prefix, n);
            if (OwnerOf(NetAddress.FromIPAddress(candidate)) is null)
            {
                return candidate;
            }
            n++;
        }
    }

    private static IPAddress Nth(IPNetwork prefix, int n)
    {
        byte[] bytes = prefix.BaseAddress.GetAddressBytes();
        int hostBits = (bytes.Length * 8) - prefix.PrefixLength;
        if (hostBits < 31 && n >= (1 << hostBits) - 1)
        {
            throw new InvalidOperationException($"Subnet {prefix} is full: use a larger prefix or another subnet.");
        }
        UInt128 value = 0;
        foreach (byte b in bytes)
        {
            value = (value << 8) | b;
        }
        value += (UInt128)n;
        for (int i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)value;
            value >>= 8;
        }
        return new IPAddress(bytes);
    }

    private void CheckAddressFree(IPAddress? address)
    {
        if (address is not null && OwnerOf(NetAddress.FromIPAddress(address)) is { } owner)
        {
            throw new ArgumentException($"{address} belongs to {owner} already.", nameof(address));
        }
    }

    private void CheckSubnet(VirtualSubnet subnet)
    {
        ArgumentNullException.ThrowIfNull(subnet);
        lock (_gate)
        {
            if (!_subnets.Contains(subnet))
            {
                throw new ArgumentException($"Subnet {subnet.Name} belongs to another network.", nameof(subnet));
            }
        }
    }

    private void ThrowIfNameTaken(string name)
    {
        if (Volatile.Read(ref _hosts).ContainsKey(name) || _routers.Exists(r => r.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"A host or router is called '{name}' already.", nameof(name));
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>A name is a DNS label (RFC 1123 §2.1): letters, digits and hyphens, 1–63 characters, no hyphen at either end.</summary>
    private static void CheckName(string name, string field)
    {
        ArgumentNullException.ThrowIfNull(name, field);
        bool valid = name.Length is > 0 and <= 63 && name[0] != '-' && name[^1] != '-'
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && !name.All(char.IsAsciiDigit);
        if (!valid)
        {
            throw new ArgumentException($"'{name}' is not a host name: use letters, digits and inner hyphens, at most 63 (RFC 1123 §2.1).", field);
        }
    }

    private static IPNetwork ParsePrefix(string text, string field) =>
        IPNetwork.TryParse(text ?? throw new ArgumentNullException(field), out IPNetwork prefix) ? prefix
            : throw new ArgumentException($"'{text}' is not a prefix such as 10.0.1.0/24 or fd01::/64.", field);

    private static bool Overlap(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));

    /// <summary>Where a router port's inbound tap is handed over once made.</summary>
    private sealed class ForwardSlot
    {
        public InboundTap? Tap { get; set; }
    }
}
