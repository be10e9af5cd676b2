// Layer: network. Token buckets per address in a bounded LRU table: the per-destination ICMP error budget
// (Linux's inet_peer_xrlim_allow) and the per-source ICMP input limit. Thread-safe with one short lock.
namespace NetStack.Network;

/// <summary>
/// One token bucket per address, as Linux keeps one per inet peer: a message costs one interval's worth of
/// tokens, tokens accrue with elapsed time up to <c>burst</c> messages, and an address seen for the first time
/// starts with a full bucket. At most <c>capacity</c> addresses are tracked; past that the least recently used
/// is forgotten in O(1), so a flood from forged addresses costs a bounded table and never a scan.
/// </summary>
internal sealed class AddressRateLimiter
{
    private readonly TimeProvider _clock;
    private readonly long _cost;
    private readonly long _ceiling;
    private readonly AddressLru<Bucket> _buckets;
    private readonly Lock _gate = new();

    /// <param name="clock">The stack's clock.</param>
    /// <param name="capacity">Addresses tracked at most.</param>
    /// <param name="interval">Time that earns one message.</param>
    /// <param name="burst">Messages a quiet address may send at once.</param>
    internal AddressRateLimiter(TimeProvider clock, int capacity, TimeSpan interval, int burst)
    {
        _clock = clock;
        _cost = Math.Max(1, (long)(interval.TotalSeconds * clock.TimestampFrequency));
        _ceiling = _cost * Math.Max(1, burst);
        _buckets = new AddressLru<Bucket>(Math.Max(1, capacity));
    }

    /// <summary>Addresses tracked now.</summary>
    internal int Count
    {
        get
        {
            lock (_gate)
            {
                return _buckets.Count;
            }
        }
    }

    /// <summary>Takes one message's tokens from <paramref name="address"/>'s bucket; false when it is empty.</summary>
    internal bool TryTake(NetAddress address)
    {
        long now = _clock.GetTimestamp();
        lock (_gate)
        {
            ref Bucket bucket = ref _buckets.GetOrAdd(address, out bool added);
            long tokens = added ? _ceiling : Math.Min(_ceiling, bucket.Tokens + Math.Max(0, now - bucket.Last));
            bucket.Last = now;
            if (tokens < _cost)
            {
                bucket.Tokens = tokens;
                return false;
            }
            bucket.Tokens = tokens - _cost;
            return true;
        }
    }

    private struct Bucket
    {
        internal long Tokens;
        internal long Last;
    }
}
