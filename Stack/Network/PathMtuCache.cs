// Layer: network. Path MTUs learned from ICMP (RFC 1191, RFC 8201), bounded, aged, and floored so that a forged
// "fragmentation needed" cannot shrink a path below what Linux accepts.
namespace NetStack.Network;

/// <summary>
/// Path MTUs learned from ICMP "fragmentation needed" (RFC 1191) and "packet too big" (RFC 8201), per
/// destination, bounded in size (a full cache forgets its least recently updated entry in O(1)) and forgotten
/// after a timeout so a path can grow back (RFC 1191 §6.3). Thread-safe; lookups take a short lock only when
/// the cache is non-empty.
/// </summary>
public sealed class PathMtuCache
{
    /// <summary>The IPv6 minimum link MTU (RFC 8200 §5): no path is smaller.</summary>
    public const int Ipv6MinimumMtu = 1280;

    private readonly TimeProvider _clock;
    private readonly long _lifetimeTicks;
    private readonly int _ipv4Floor;
    private readonly AddressLru<Entry> _entries;
    private readonly Lock _gate = new();
    private volatile int _count;

    internal PathMtuCache(TimeProvider clock, int capacity, TimeSpan lifetime, int ipv4MinimumMtu = 552)
    {
        _clock = clock;
        _entries = new AddressLru<Entry>(Math.Max(1, capacity));
        _lifetimeTicks = (long)(lifetime.TotalSeconds * clock.TimestampFrequency);
        _ipv4Floor = Math.Max(ipv4MinimumMtu, 68);
    }

    /// <summary>Entries held.</summary>
    public int Count => _count;

    /// <summary>The lowest path MTU an IPv4 message can set (Linux's <c>net.ipv4.route.min_pmtu</c>).</summary>
    public int Ipv4MinimumMtu => _ipv4Floor;

    /// <summary>The path MTU to <paramref name="destination"/>: the learned one if lower than <paramref name="linkMtu"/>.</summary>
    public int Get(NetAddress destination, int linkMtu)
    {
        if (_count == 0)
        {
            return linkMtu;
        }
        lock (_gate)
        {
            ref Entry e = ref _entries.Find(destination, out bool found);
            if (found)
            {
                if (e.Expires > _clock.GetTimestamp())
                {
                    return Math.Min(e.Mtu, linkMtu);
                }
                _entries.Remove(destination);
                _count = _entries.Count;
            }
        }
        return linkMtu;
    }

    /// <summary>
    /// Whether an ICMP message reporting <paramref name="mtu"/> for a path of <paramref name="destination"/>'s
    /// version may be acted on at all: RFC 8201 §4 has a node discard a Packet Too Big below the IPv6 minimum
    /// link MTU; an IPv4 value below the floor is raised to it instead (Linux's <c>__ip_rt_update_pmtu</c>).
    /// </summary>
    public static bool IsAcceptable(NetAddress destination, int mtu) => !destination.IsV4 ? mtu >= Ipv6MinimumMtu : mtu > 0;

    /// <summary>
    /// Lowers the path MTU to <paramref name="destination"/>. An IPv4 value below <see cref="Ipv4MinimumMtu"/> is
    /// raised to it (as Linux's <c>min_pmtu</c>, 552 by default); an IPv6 value below 1280 is raised to 1280
    /// (callers drop such messages first, <see cref="IsAcceptable"/>). The MTU is never raised by ICMP
    /// (RFC 8201 §4). Returns the MTU now in force.
    /// </summary>
    public int Update(NetAddress destination, int mtu)
    {
        mtu = Math.Max(mtu, destination.IsV4 ? _ipv4Floor : Ipv6MinimumMtu);
        long now = _clock.GetTimestamp();
        lock (_gate)
        {
            ref Entry e = ref _entries.GetOrAdd(destination, out bool added);
            if (!added && e.Mtu <= mtu && e.Expires > now)
            {
                return e.Mtu; // never raise the MTU from ICMP (RFC 8201 §4)
            }
            e = new Entry(mtu, now + _lifetimeTicks);
            _count = _entries.Count;
            return mtu;
        }
    }

    private readonly record struct Entry(int Mtu, long Expires);
}
