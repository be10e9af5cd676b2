// The address policy: where a sandbox's flow may go and which host address it really goes to. The sandbox must not
// reach what it should not: the host's loopback only through a gateway and only when allowed; loopback, "this
// network", link-local, multicast and IPv4-mapped destinations only when an allow rule names them.
using System.Net;
using NetStack.Network;

namespace NetStack.Proxy;

/// <summary>Why a flow was refused: by the address policy, or past a limit (each counted).</summary>
public enum ProxyRefusal
{
    /// <summary>A deny rule matched.</summary>
    Denied,
    /// <summary>A gateway address while the host's loopback is not allowed.</summary>
    HostLoopback,
    /// <summary>127.0.0.0/8 or ::1 (RFC 1122 §3.2.1.3(g), RFC 4291 §2.5.3): the host's own loopback by another name.</summary>
    Loopback,
    /// <summary>0.0.0.0/8 (RFC 1122 §3.2.1.3(a)) or :: — Linux connects these to the host itself.</summary>
    Unspecified,
    /// <summary>169.254.0.0/16 (RFC 3927) or fe80::/10 (RFC 4291 §2.5.6): the host's own links, cloud metadata.</summary>
    LinkLocal,
    /// <summary>Multicast or the limited broadcast: no one host to relay to.</summary>
    Multicast,
    /// <summary>::ffff:0:0/96 (RFC 4291 §2.5.5.2): an IPv4 address in IPv6 clothes, which would sidestep the IPv4 rules.</summary>
    Ipv4Mapped,
    /// <summary>The destination's family has no address on the host side (no route).</summary>
    Unreachable,
    /// <summary>
    /// A SYN while <see cref="ProxyOptions.MaxPendingDials"/> host dials were in flight: dropped unanswered, as Linux
    /// drops a SYN to a full listen queue (the sandbox retransmits it).
    /// </summary>
    DialLimit,
}

/// <summary>The outcome of a policy check: the host end point to reach, or why not.</summary>
/// <param name="Target">Where the host socket goes (null when refused).</param>
/// <param name="Refusal">Why it was refused (meaningful when <see cref="Target"/> is null).</param>
/// <param name="IsDns">The flow is for the DNS forwarder (UDP: the idle timeout is <see cref="ProxyOptions.DnsIdleTimeout"/>).</param>
public readonly record struct ProxyDecision(IPEndPoint? Target, ProxyRefusal Refusal, bool IsDns = false)
{
    /// <summary>True when the flow may go.</summary>
    public bool Allowed => Target is not null;
}

/// <summary>Decides where each flow may go (thread-safe, immutable).</summary>
public sealed class AddressPolicy
{
    private const int DnsPort = 53;
    private readonly ProxyOptions _options;
    private readonly IReadOnlyList<IPEndPoint> _resolvers;

    /// <summary>A policy over <paramref name="options"/>, sending DNS to <paramref name="resolvers"/>.</summary>
    public AddressPolicy(ProxyOptions options, IReadOnlyList<IPEndPoint> resolvers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resolvers);
        _options = options;
        _resolvers = resolvers;
    }

    /// <summary>Where a flow to <paramref name="destination"/>:<paramref name="port"/> goes on the host, or why it may not.</summary>
    public ProxyDecision Decide(NetAddress destination, int port)
    {
        foreach (ProxyRule rule in _options.Deny)
        {
            if (rule.Matches(destination, port))
            {
                return Refuse(ProxyRefusal.Denied);
            }
        }
        if (Contains(_options.DnsAddresses, destination))
        {
            // The DNS address answers on port 53 only; anything else to it goes nowhere (as slirp4netns's).
            IPEndPoint? resolver = port == DnsPort ? PickResolver(destination.IsV4) : null;
            return resolver is null ? Refuse(ProxyRefusal.Unreachable) : new ProxyDecision(resolver, default, IsDns: true);
        }
        if (Contains(_options.Gateways, destination))
        {
            return _options.AllowHostLoopback
                ? new ProxyDecision(new IPEndPoint(destination.IsV4 ? IPAddress.Loopback : IPAddress.IPv6Loopback, port), default)
                : Refuse(ProxyRefusal.HostLoopback);
        }
        if (Classify(destination) is ProxyRefusal refusal)
        {
            foreach (ProxyRule rule in _options.Allow)
            {
                if (rule.Matches(destination, port))
                {
                    return new ProxyDecision(new IPEndPoint(destination.ToIPAddress(), port), default);
                }
            }
            return Refuse(refusal);
        }
        return new ProxyDecision(new IPEndPoint(destination.ToIPAddress(), port), default);
    }

    /// <summary>The default refusal class of <paramref name="address"/>, or null when it is an ordinary unicast address.</summary>
    public static ProxyRefusal? Classify(NetAddress address)
    {
        if (address.IsLoopback)
        {
            return ProxyRefusal.Loopback;
        }
        if (address.IsUnspecified || address.IsZeroNetwork)
        {
            return ProxyRefusal.Unspecified;
        }
        if (address.IsMulticast || address.IsLimitedBroadcast)
        {
            return ProxyRefusal.Multicast;
        }
        if (address.IsIpv4Mapped)
        {
            return ProxyRefusal.Ipv4Mapped;
        }
        bool linkLocal = address.IsV4 ? (address.V4 >> 16) == 0xA9FE : (address.Value >> 118) == 0x3FA; // 169.254/16, fe80::/10
        return linkLocal ? ProxyRefusal.LinkLocal : null;
    }

    private IPEndPoint? PickResolver(bool v4)
    {
        // A resolver of the query's family first, any other after: a v6 query may go to a v4 resolver and back.
        foreach (IPEndPoint r in _resolvers)
        {
            if ((r.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) == v4)
            {
                return r;
            }
        }
        return _resolvers.Count > 0 ? _resolvers[0] : null;
    }

    private static bool Contains(IReadOnlyList<NetAddress> list, NetAddress address)
    {
        foreach (NetAddress a in list)
        {
            if (a == address)
            {
                return true;
            }
        }
        return false;
    }

    private static ProxyDecision Refuse(ProxyRefusal reason) => new(null, reason);
}
