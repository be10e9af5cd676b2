// Layer: transport (UDP). The reflection check for services that answer whatever arrives (echo, chargen,
// daytime, time): a reply must never go to a port that answers in turn, nor to ourselves, or two such services
// (or one and a forged source) ping-pong forever (CVE-1999-0103, the "fraggle" and echo–chargen loops).
using System.Net;
using NetStack.Network;

namespace NetStack.Udp;

/// <summary>
/// Decides whether a UDP service that answers any datagram may answer <c>source</c>. Unsafe: port 0; a
/// privileged port (below 1024), where the echo-like services live — echo 7, daytime 13, chargen 19, time 37 —
/// and where no ordinary client sends from; a source no single host can own (unspecified, multicast,
/// broadcast, 0.0.0.0/8, IPv4-mapped on the wire); and, given the stack, any of our own addresses (a forged
/// source that would make us answer ourselves). As BSD inetd's <c>check_loop</c>, widened to all privileged ports.
/// </summary>
public static class UdpReflection
{
    /// <summary>The first port that is not privileged (BSD's IPPORT_RESERVED).</summary>
    public const int FirstUnprivilegedPort = 1024;

    /// <summary>True when a reply to <paramref name="source"/> could reflect or loop (see the class comment); the stack's own addresses are not checked.</summary>
    public static bool IsUnsafeSource(IPEndPoint source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Port < FirstUnprivilegedPort)
        {
            return true;
        }
        IPAddress address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        NetAddress a = NetAddress.FromIPAddress(address);
        return a.IsUnspecified || a.IsMulticast || a.IsLimitedBroadcast || a.IsZeroNetwork || a.IsIpv4Mapped;
    }

    /// <summary>
    /// True when a reply to <paramref name="source"/> could reflect or loop, including when the source is one of
    /// <paramref name="stack"/>'s own addresses or a directed broadcast of one of its prefixes.
    /// </summary>
    public static bool IsUnsafeSource(IPEndPoint source, NetworkStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        if (IsUnsafeSource(source))
        {
            return true;
        }
        IPAddress address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        NetAddress a = NetAddress.FromIPAddress(address);
        if (stack.IsLocalAddress(a))
        {
            return true;
        }
        foreach (Nic nic in stack.Nics)
        {
            if (nic.IsBroadcast(a))
            {
                return true;
            }
        }
        return false;
    }
}
