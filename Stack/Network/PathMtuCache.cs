namespace NetStack.Network;

/// <summary>
/// Path MTUs learned from ICMP "fragmentation needed" (RFC 1191) and "packet too big" (RFC 8201), per
/// destination, bounded in size and forgotten after a timeout so a path can grow back (RFC 1191 §6.3).
/// Thread-safe; lookups take a short lock only when the cache is non-empty.
/// </summary>
public sealed class PathMtuCache
{
    private readonly TimeProvider _clock;
    private readonly int _capacity;
    private readonly long _lifetimeTicks;
    private readonly Dictionary<NetAddress, (int Mtu, long Expires)> _entries = [];
    private readonly Lock _gate = new();
    private volatile int _count;

    internal PathMtuCache(TimeProvider clock, int capacity, TimeSpan lifetime)
    {
        _clock = clock;
        _capacity = Math.Max(1, capacity);
        _lifetimeTicks = (long)(lifetime.TotalSeconds * clock.TimestampFrequency);
    }

    /// <summary>Entries held.</summary>
    public int Count => _count;

    /// <summary>The path MTU to <paramref name="destination"/>: the learned one if lower than <paramref name="linkMtu"/>.</summary>
    public int Get(NetAddress destination, int linkMtu)
    {
        if (_count == 0)
        {
            return linkMtu;
        }
        lock (_gate)
        {
            if (_entries.TryGetValue(destination, out var e))
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
    /// Lowers the path MTU to <paramref name="destination"/>. Values below the protocol minimum (68 for IPv4,
    /// RFC 791; 1280 for IPv6, RFC 8200 §5) are raised to it, so a forged ICMP cannot shrink a path below it.
    /// Returns the MTU now in force.
    /// </summary>
    public int Update(NetAddress destination, int mtu)
    {
        mtu = Math.Max(mtu, destination.IsV4 ? 68 : 1280);
        lock (_gate)
        {
            if (_entries.TryGetValue(destination, out var e) && e.Mtu <= mtu && e.Expires > _clock.GetTimestamp())
            {
                return e.Mtu; // never raise the MTU from ICMP (RFC 8201 §4)
            }
            if (_entries.Count >= _capacity && !_entries.ContainsKey(destination))
            {
                NetAddress oldest = default;
                long oldestExpiry = long.MaxValue;
                foreach (var kv in _entries)
                {
                    if (kv.Value.Expires < oldestExpiry)
                    {
                        (oldest, oldestExpiry) = (kv.Key, kv.Value.Expires);
                    }
                }
                _entries.Remove(oldest);
            }
            _entries[destination] = (mtu, _clock.GetTimestamp() + _lifetimeTicks);
            _count = _entries.Count;
            return mtu;
        }
    }
}
