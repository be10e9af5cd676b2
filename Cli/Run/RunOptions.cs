// `netstack run`: what the command was asked to do, as records: the sandbox's addresses, the link's impairments
// each way (and the one place they become TUN endpoint options), and the forwarder's options (parsed here,
// consumed by the forwarder of issue 15).
using NetStack.Link.Simulation;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>What `netstack run` was asked to do.</summary>
public sealed record RunOptions
{
    /// <summary>CMD and its arguments (empty with <see cref="AttachPid"/>).</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>Network this process's namespaces instead of starting CMD in new ones (as <c>slirp4netns PID</c>).</summary>
    public int? AttachPid { get; init; }

    /// <summary>Addresses of the sandbox, the gateway (our stack) and the DNS server.</summary>
    public SandboxAddresses Addresses { get; init; } = new();

    /// <summary>Link MTU of the TUN device and the stack (65520, as pasta and slirp4netns's recommended setting).</summary>
    public int Mtu { get; init; } = 65520;

    /// <summary>Virtio header, TSO and USO on the TUN device, each falling back when the kernel refuses it (false: a plain TUN).</summary>
    public bool Offload { get; init; } = true;

    /// <summary>Name of the TUN device inside the namespace.</summary>
    public string TunName { get; init; } = "tun0";

    /// <summary>Map the caller's subordinate uid/gid ranges (/etc/subuid, /etc/subgid) too, through newuidmap/newgidmap; otherwise only the caller, to root.</summary>
    public bool SubordinateIdMap { get; init; }

    /// <summary>Impairments of the link, each way.</summary>
    public LinkImpairments Impairments { get; init; } = new();

    /// <summary>Capture the sandbox's traffic into this file (raw IP pcap), or null.</summary>
    public string? Pcap { get; init; }

    /// <summary>Print the counters on standard error when CMD exits.</summary>
    public bool Stats { get; init; }

    /// <summary>What the forwarder does (issue 15); parsed and checked here, consumed there.</summary>
    public ForwardingOptions Forwarding { get; init; } = new();
}

/// <summary>
/// The sandbox's side of the link and the host side's addresses on it. The defaults are slirp4netns's: 10.0.2.0/24 with
/// the sandbox at .100, the gateway at .2 and DNS at .3; fd00::/64 with ::100, ::2 and ::3.
/// </summary>
public sealed record SandboxAddresses
{
    /// <summary>The sandbox's IPv4 address and prefix (on its TUN device).</summary>
    public NetPrefix Sandbox4 { get; init; } = NetPrefix.Parse("10.0.2.100/24");

    /// <summary>The gateway: the address of our stack, and the sandbox's default route.</summary>
    public NetAddress Gateway4 { get; init; } = NetAddress.Parse("10.0.2.2");

    /// <summary>The DNS address written into the sandbox's /etc/resolv.conf.</summary>
    public NetAddress Dns4 { get; init; } = NetAddress.Parse("10.0.2.3");

    /// <summary>Configure IPv6 too.</summary>
    public bool Ipv6 { get; init; } = true;

    /// <summary>The sandbox's IPv6 address and prefix.</summary>
    public NetPrefix Sandbox6 { get; init; } = NetPrefix.Parse("fd00::100/64");

    /// <summary>The IPv6 gateway (our stack).</summary>
    public NetAddress Gateway6 { get; init; } = NetAddress.Parse("fd00::2");

    /// <summary>The IPv6 DNS address.</summary>
    public NetAddress Dns6 { get; init; } = NetAddress.Parse("fd00::3");

    /// <summary>The stack's own addresses with the link's prefix lengths (the gateways).</summary>
    public IReadOnlyList<NetPrefix> GatewayPrefixes =>
        Ipv6 ? [new NetPrefix(Gateway4, Sandbox4.PrefixLength), new NetPrefix(Gateway6, Sandbox6.PrefixLength)] : [new NetPrefix(Gateway4, Sandbox4.PrefixLength)];

    /// <summary>Null when consistent, else what is wrong: gateway and DNS inside the sandbox's prefix, all three distinct.</summary>
    public string? Check()
    {
        return Family(Sandbox4, Gateway4, Dns4, "IPv4", "--address", "--gateway", "--dns")
            ?? (Ipv6 ? Family(Sandbox6, Gateway6, Dns6, "IPv6", "--address6", "--gateway6", "--dns6") : null);

        static string? Family(NetPrefix sandbox, NetAddress gateway, NetAddress dns, string family, string a, string g, string d)
        {
            bool v4 = family == "IPv4";
            if (sandbox.Address.IsV4 != v4 || gateway.IsV4 != v4 || dns.IsV4 != v4)
            {
                return $"{a}, {g} and {d} must be {family} addresses";
            }
            if (sandbox.PrefixLength > (v4 ? 30 : 126))
            {
                return $"{a} {sandbox}: the prefix must leave room for the sandbox, the gateway and DNS";
            }
            if (!sandbox.Contains(gateway) || !sandbox.Contains(dns))
            {
                return $"{g} {gateway} and {d} {dns} must be inside {a} {sandbox}";
            }
            if (gateway == sandbox.Address || dns == sandbox.Address || gateway == dns)
            {
                return $"{a} {sandbox.Address}, {g} {gateway} and {d} {dns} must be three different addresses";
            }
            return null;
        }
    }
}

/// <summary>
/// Impairments of the sandbox's link: <see cref="Up"/> is sandbox → host (packets read from the TUN device),
/// <see cref="Down"/> host → sandbox (packets written to it). Null leaves that way untouched.
/// </summary>
public sealed record LinkImpairments
{
    /// <summary>Sandbox → host.</summary>
    public ImpairmentOptions? Up { get; init; }

    /// <summary>Host → sandbox.</summary>
    public ImpairmentOptions? Down { get; init; }

    /// <summary>Seed of the impairment stages: the same seed gives the same drops for the same packets.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>
    /// The TUN endpoint options with these impairments as device-side decorators: up (read from the device) in
    /// front of whatever inbound decorator <paramref name="options"/> has (a capture then sees what the sandbox
    /// sent), down (written to the device) in front of the outbound one (a capture sees what reaches the sandbox).
    /// </summary>
    public TunEndpointOptions ApplyTo(TunEndpointOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ImpairmentOptions? up = Up is { IsTransparent: false } ? Up : null;
        ImpairmentOptions? down = Down is { IsTransparent: false } ? Down : null;
        Func<IPacketSink, IPacketSink>? inbound = options.Inbound, outbound = options.Outbound;
        int seed = Seed;
        return options with
        {
            Inbound = up is null ? inbound : sink =>
            {
                IPacketSink impaired = new ImpairmentStage(sink, up, seed, TimeProvider.System, "run-up");
                return inbound is null ? impaired : inbound(impaired);
            },
            Outbound = down is null ? outbound : sink =>
            {
                IPacketSink inner = outbound is null ? sink : outbound(sink);
                return new ImpairmentStage(inner, down, unchecked(seed + 1), TimeProvider.System, "run-down");
            },
        };
    }
}

/// <summary>TCP or UDP, for a port forward.</summary>
public enum ForwardProtocol
{
    /// <summary>TCP (<c>-t</c>).</summary>
    Tcp,
    /// <summary>UDP (<c>-u</c>).</summary>
    Udp,
}

/// <summary>A host → sandbox port forward: <c>[ADDR:]HOSTPORT:PORT</c> (ADDR null: loopback).</summary>
public sealed record PortForward(ForwardProtocol Protocol, NetAddress? HostAddress, int HostPort, int SandboxPort);

/// <summary>An <c>--allow</c>/<c>--deny</c> rule: destinations in <see cref="Prefix"/>, on <see cref="Port"/> or any port when null.</summary>
public sealed record AddressRule(NetPrefix Prefix, int? Port);

/// <summary>The forwarder's options (issue 15): the host's loopback, port forwards, an address policy.</summary>
public sealed record ForwardingOptions
{
    /// <summary>Connections to the gateway reach the host's loopback (off by default).</summary>
    public bool AllowHostLoopback { get; init; }

    /// <summary>Host → sandbox port forwards (<c>-t</c>, <c>-u</c>).</summary>
    public IReadOnlyList<PortForward> PortForwards { get; init; } = [];

    /// <summary>Destinations allowed even when the default policy refuses them (<c>--allow</c>).</summary>
    public IReadOnlyList<AddressRule> Allow { get; init; } = [];

    /// <summary>Destinations refused (<c>--deny</c>).</summary>
    public IReadOnlyList<AddressRule> Deny { get; init; } = [];
}
