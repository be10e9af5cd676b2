// Layer: network. IPv4 identification (RFC 791, RFC 6864 §4, RFC 7739 §5) as Linux does it: a keyed hash of the
// flow picks a shared counter (ip_idents), a counter idle for a while jumps by a random amount, and a connection's
// atomic datagrams count on a counter of their own from a keyed-hash start (Linux's per-socket inet_id).
namespace NetStack.Network;

/// <summary>
/// IPv4 Identification values (RFC 791; RFC 6864 §4): unique per (source, destination, protocol) for as long
/// as fragments may live, and not a side channel across flows (RFC 7739 §5). SipHash, keyed per stack, of the
/// triple picks one of <see cref="Buckets"/> counters, each starting at a random value; as in Linux's
/// <c>ip_idents_reserve</c>, a counter whose last use was <c>n</c> milliseconds ago first moves on by a
/// pseudo-random amount below <c>n</c>, so a host that shares a bucket with someone else's flow cannot count that
/// flow's packets by watching its own IDs, and the IDs of one flow do not reveal how busy the host is.
/// </summary>
internal sealed class Ipv4IdGenerator
{
    /// <summary>Counters (Linux sizes its table between 2048 and 256 Ki by memory).</summary>
    internal const int Buckets = 4096;

    private readonly int[] _counters = new int[Buckets];
    private readonly long[] _lastUse = new long[Buckets];
    private readonly SipHash _bucketKey;
    private readonly SipHash _jumpKey;
    private readonly TimeProvider _clock;
    private readonly long _ticksPerMillisecond;

    /// <param name="clock">The stack's clock (idle time of a counter).</param>
    /// <param name="random">Fixes the keys and initial counters (reproducible simulations); null draws them from the system's CSPRNG.</param>
    public Ipv4IdGenerator(TimeProvider clock, Random? random)
    {
        _clock = clock;
        _ticksPerMillisecond = Math.Max(1, clock.TimestampFrequency / 1000);
        _bucketKey = SipHash.Create(random);
        _jumpKey = SipHash.Create(random);
        Span<byte> starts = stackalloc byte[Buckets * 2];
        if (random is not null)
        {
            random.NextBytes(starts);
        }
        else
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(starts);
        }
        long now = clock.GetTimestamp() / _ticksPerMillisecond;
        for (int i = 0; i < Buckets; i++)
        {
            _counters[i] = BitConverter.ToUInt16(starts[(2 * i)..]);
            _lastUse[i] = now;
        }
    }

    /// <summary>
    /// Where a connection's own counter starts (<see cref="Ipv4FlowIds"/>): a keyed hash of its addresses, protocol
    /// and <paramref name="flowKey"/> (its ports), computed once per connection.
    /// </summary>
    public ushort FlowStart(uint source, uint destination, byte protocol, ulong flowKey) =>
        (ushort)_bucketKey.Hash(((ulong)destination << 32) | source, protocol, flowKey, 1, 0); // 1: apart from the bucket hash

    /// <summary>
    /// The next identification for a datagram from <paramref name="source"/> to <paramref name="destination"/>;
    /// <paramref name="count"/> reserves that many consecutive values (a GSO super-segment's segments take ID + i).
    /// </summary>
    public ushort Next(uint source, uint destination, byte protocol, int count = 1)
    {
        ulong hash = _bucketKey.Hash(((ulong)destination << 32) | source, protocol, 0, 0, 0);
        int bucket = (int)(hash % Buckets);
        long now = _clock.GetTimestamp() / _ticksPerMillisecond;
        long last = Volatile.Read(ref _lastUse[bucket]);
        int jump = 0;
        if (now > last && Interlocked.CompareExchange(ref _lastUse[bucket], now, last) == last)
        {
            jump = (int)(_jumpKey.Hash(hash, (ulong)now, 0, 0, 0) % (ulong)Math.Min(now - last, 65536)); // Linux: get_random_u32_below(now - old)
        }
        return (ushort)(Interlocked.Add(ref _counters[bucket], count + jump) - count + 1);
    }
}

/// <summary>
/// A connection's own IPv4 identification counter for its atomic datagrams (DF set, never fragmented; RFC 6864 §4.1
/// lets their ID be anything), as Linux's per-socket <c>inet_id</c>: it starts where a keyed hash of the connection
/// says (<see cref="Ipv4IdGenerator.FlowStart"/>) and counts up, so no other flow shares it (no side channel,
/// RFC 7739 §5), one connection's IDs stay sequential for GRO, and a segment costs one add instead of a hash.
/// </summary>
internal sealed class Ipv4FlowIds(ushort start)
{
    private int _next = start;

    /// <summary>Reserves <paramref name="count"/> consecutive IDs (a GSO super-segment's segments take ID + i); returns the first.</summary>
    public ushort Take(int count) => (ushort)(Interlocked.Add(ref _next, count) - count);
}
