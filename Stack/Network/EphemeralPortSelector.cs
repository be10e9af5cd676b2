// Layer: network. Ephemeral port selection per RFC 6056, shared by the transports: algorithm 4 (double-hash)
// when the remote end is known, algorithm 1 (a random start) when it is not. Neither is sequential, so an off-path
// attacker cannot guess the next port (RFC 6056 §1), and connections to different peers do not reveal each other.
namespace NetStack.Network;

/// <summary>
/// Picks ephemeral ports in [<see cref="Min"/>, <see cref="Max"/>] (RFC 6335 §6: 49152–65535 by default) as RFC 6056
/// §3.3.4 does, the way Linux's <c>__inet_hash_connect</c> does: a keyed hash of the 3-tuple (local address, remote
/// address, remote port) gives a per-destination offset, a second keyed hash picks one of
/// <see cref="TableSize"/> counters, and the port is offset + counter, probed upwards until the caller finds one
/// free. The counter then moves past what was used plus a small random step (Linux's <c>table_perturb</c>), so the
/// next port of the same 3-tuple is not the next number. Without a remote (a UDP endpoint bound before it sends),
/// the start is random (RFC 6056 §3.3.1). Thread-safe; allocation-free.
/// </summary>
internal sealed class EphemeralPortSelector
{
    /// <summary>Counters for algorithm 4 (RFC 6056 §3.3.4's table; Linux uses 65536).</summary>
    internal const int TableSize = 4096;

    private readonly SipHash _offsetKey;
    private readonly SipHash _indexKey;
    private readonly int[] _table = new int[TableSize];
    private long _draws;

    /// <param name="min">Lowest port.</param>
    /// <param name="max">Highest port.</param>
    /// <param name="random">Seeds the keys (a reproducible simulation); null draws them from the system's CSPRNG.</param>
    internal EphemeralPortSelector(int min, int max, Random? random)
    {
        if (min < 1 || max > ushort.MaxValue || min > max)
        {
            throw new ArgumentOutOfRangeException(nameof(min), $"ephemeral range {min}–{max} is not within 1–65535");
        }
        Min = min;
        Max = max;
        _offsetKey = SipHash.Create(random);
        _indexKey = SipHash.Create(random);
    }

    /// <summary>Lowest port handed out.</summary>
    internal int Min { get; }

    /// <summary>Highest port handed out.</summary>
    internal int Max { get; }

    /// <summary>
    /// RFC 6056 algorithm 4 for a connection from <paramref name="local"/> to <paramref name="remote"/>:
    /// <paramref name="isFree"/> is asked about candidates in order until it says yes. False when none is free.
    /// </summary>
    internal bool TrySelect<TState>(NetAddress local, NetAddress remote, ushort remotePort, TState state, Func<TState, ushort, bool> isFree, out ushort port)
    {
        uint span = (uint)(Max - Min + 1);
        ulong offset = _offsetKey.Hash(local, remote, remotePort, 0);
        int index = (int)(_indexKey.Hash(local, remote, remotePort, 0) % TableSize);
        int counter = Volatile.Read(ref _table[index]);
        for (uint i = 0; i < span; i++)
        {
            var candidate = (ushort)((uint)Min + (uint)((offset + (uint)counter + i) % span));
            if (isFree(state, candidate))
            {
                // Linux: advance by what was probed plus at least 2, or a random even step up to 14 when that is more.
                uint step = Math.Max(i, 2 * (uint)(NextRandom() % 8)) + 2;
                Interlocked.Add(ref _table[index], (int)step);
                port = candidate;
                return true;
            }
        }
        port = 0;
        return false;
    }

    /// <summary>RFC 6056 algorithm 1 when no remote end is known: a random start, then upwards.</summary>
    internal bool TrySelect<TState>(TState state, Func<TState, ushort, bool> isFree, out ushort port)
    {
        uint span = (uint)(Max - Min + 1);
        ulong start = NextRandom();
        for (uint i = 0; i < span; i++)
        {
            var candidate = (ushort)((uint)Min + (uint)((start + i) % span));
            if (isFree(state, candidate))
            {
                port = candidate;
                return true;
            }
        }
        port = 0;
        return false;
    }

    /// <summary>A keyed PRF of a counter: unpredictable without the key, and replayable under a seed.</summary>
    private ulong NextRandom() => _indexKey.Hash((ulong)Interlocked.Increment(ref _draws), 0x6056, 0, 0, 0);
}
