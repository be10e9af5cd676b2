// Choices a target makes "at random" but derived from the input (split points, paddings), so an input replays to
// the same run every time and the fuzzer reaches a different choice by changing any byte.
namespace NetStack.Fuzz.Support;

/// <summary>A SplitMix64 generator seeded with the FNV-1a hash of the input (and a salt per use).</summary>
public struct InputRandom
{
    private ulong _state;

    /// <summary>Seeds the generator from <paramref name="input"/> and <paramref name="salt"/>.</summary>
    public InputRandom(ReadOnlySpan<byte> input, ulong salt = 0)
    {
        ulong hash = 0xCBF2_9CE4_8422_2325UL ^ salt;
        foreach (byte b in input)
        {
            hash = (hash ^ b) * 0x0000_0100_0000_01B3UL;
        }
        _state = hash;
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A number in [0, <paramref name="maxExclusive"/>); 0 when the range is empty.</summary>
    public int Next(int maxExclusive) => maxExclusive <= 0 ? 0 : (int)(NextUInt64() % (ulong)maxExclusive);

    /// <summary>A number in [<paramref name="min"/>, <paramref name="maxInclusive"/>].</summary>
    public int NextInclusive(int min, int maxInclusive) => maxInclusive <= min ? min : min + Next(maxInclusive - min + 1);
}
