// The harness's settings: the seed, real or virtual time, the capture, the default subnet and the stacks' options,
// each checked when set (a bad value fails at once, naming its field).
using System.Net;
using System.Net.Sockets;
using NetStack.Buffers;
using NetStack.Network;

namespace NetStack.Simulation;

/// <summary>How a <see cref="VirtualNetwork"/> keeps time.</summary>
public enum NetworkTime
{
    /// <summary>The system clock: any .NET code works (HttpClient, Kestrel, timeouts), nothing is reproducible.</summary>
    Real,
    /// <summary>
    /// A virtual clock that jumps over idle time while <see cref="VirtualNetwork.RunAsync(Func{Task}, TimeSpan?)"/>
    /// drives the network: stacks, links and the harness's own waits run on it, and the same seed replays byte
    /// for byte (docs/harness.md, "What is deterministic").
    /// </summary>
    Virtual,
}

/// <summary>Configuration of a <see cref="VirtualNetwork"/>.</summary>
public sealed record VirtualNetworkOptions
{
    /// <summary>Seeds every impairment, and in virtual time every stack's random choices (ports, ISNs).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Real time (the default) or virtual time.</summary>
    public NetworkTime Time { get; init; } = NetworkTime.Real;

    /// <summary>A pcapng file of every link (one interface per host port and router leg); null: no capture.</summary>
    public string? CapturePath { get; init; }

    /// <summary>The IPv4 prefix of the default subnet ("default"), where hosts go unless told otherwise.</summary>
    public IPNetwork Ipv4Subnet { get; init; } = IPNetwork.Parse("10.0.0.0/24");

    /// <summary>The IPv6 prefix of the default subnet.</summary>
    public IPNetwork Ipv6Subnet { get; init; } = IPNetwork.Parse("fd00::/64");

    /// <summary>MTU of every host's link unless the host names its own.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Options of every host's stack (clock and pool are always the network's).</summary>
    public NetworkStackOptions? Stack { get; init; }

    /// <summary>The packet pool of every stack; a pool of the network's own when null (so leaks are the network's alone).</summary>
    public PacketBufferPool? Pool { get; init; }

    /// <summary>Most virtual time one <see cref="VirtualNetwork.RunAsync(Func{Task}, TimeSpan?)"/> may take unless it says otherwise.</summary>
    public TimeSpan VirtualTimeLimit { get; init; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Virtual time only: real time granted to work on other threads (HttpClient's and Kestrel's continuations) each
    /// time the network is idle, before the clock jumps. Zero (the default) keeps a run single-threaded and exact;
    /// a few milliseconds let code that does not run on the harness's waits keep up (and give up exactness).
    /// </summary>
    public TimeSpan RealTimeGrace { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the field that is wrong.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Time))
        {
            throw new ArgumentOutOfRangeException(nameof(Time), Time, "Unknown time mode.");
        }
        if (Ipv4Subnet.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"{Ipv4Subnet} is not an IPv4 prefix.", nameof(Ipv4Subnet));
        }
        if (Ipv6Subnet.BaseAddress.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"{Ipv6Subnet} is not an IPv6 prefix.", nameof(Ipv6Subnet));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(Mtu, 1280, nameof(Mtu));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Mtu, 65535, nameof(Mtu));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(VirtualTimeLimit, TimeSpan.Zero, nameof(VirtualTimeLimit));
        ArgumentOutOfRangeException.ThrowIfLessThan(RealTimeGrace, TimeSpan.Zero, nameof(RealTimeGrace));
        if (CapturePath is { Length: 0 })
        {
            throw new ArgumentException("An empty capture path; null for no capture.", nameof(CapturePath));
        }
    }
}

/// <summary>How one host joins a <see cref="VirtualNetwork"/>.</summary>
public sealed record VirtualHostOptions
{
    /// <summary>Its IPv4 address (in its subnet), or the subnet's next free one when null.</summary>
    public IPAddress? Ipv4 { get; init; }

    /// <summary>Its IPv6 address (in its subnet), or the subnet's next free one when null.</summary>
    public IPAddress? Ipv6 { get; init; }

    /// <summary>The link's MTU, or the network's when null.</summary>
    public int? Mtu { get; init; }

    /// <summary>The host's stack options, or the network's when null (clock and pool are the network's).</summary>
    public NetworkStackOptions? Stack { get; init; }
}
