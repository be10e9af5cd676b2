namespace NetStack.Network;

/// <summary>
/// IPv4 Identification values (RFC 791; RFC 6864 §4): unique per (source, destination, protocol) for as long
/// as fragments may live, and not predictable across flows. A keyed hash of the triple picks one of many
/// counters, each starting at a random value — the same idea as Linux's ip_idents, written anew.
/// </summary>
internal sealed class Ipv4IdGenerator
{
    private const int Buckets = 2048;
    private readonly int[] _counters = new int[Buckets];
    private readonly ulong _key0;
    private readonly ulong _key1;

    /// <param name="seed">Fixes the keys and initial counters (reproducible simulations); null draws them from the system's CSPRNG.</param>
    public Ipv4IdGenerator(int? seed)
    {
        Span<byte> keys = stackalloc byte[16 + (Buckets * 2)];
        if (seed is int s)
        {
            new Random(s).NextBytes(keys);
        }
        else
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(keys);
        }
        _key0 = BitConverter.ToUInt64(keys);
        _key1 = BitConverter.ToUInt64(keys[8..]);
        for (int i = 0; i < Buckets; i++)
        {
            _counters[i] = BitConverter.ToUInt16(keys[(16 + (2 * i))..]);
        }
    }

    /// <summary>
    /// The next identification for a datagram from <paramref name="source"/> to <paramref name="destination"/>;
    /// <paramref name="count"/> reserves that many consecutive values (a GSO super-segment's segments take ID + i).
    /// </summary>
    public ushort Next(uint source, uint destination, byte protocol, int count = 1)
    {
        ulong h = ((ulong)source << 32 | destination) ^ _key0;
        h = (h ^ (h >> 33)) * 0xFF51AFD7ED558CCDUL;
        h ^= protocol * 0x9E3779B97F4A7C15UL ^ _key1;
        h = (h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53UL;
        int bucket = (int)((h ^ (h >> 33)) % Buckets);
        return (ushort)(Interlocked.Add(ref _counters[bucket], count) - count + 1);
    }
}
