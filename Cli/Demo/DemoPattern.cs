// netstack demo: the bytes every body carries, a seeded random block repeated (its prime length keeps a bug that
// repeats or drops a power-of-two sized run from going unnoticed by the hash).
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace NetStack.Cli.Demo;

/// <summary>Deterministic body content: byte i of a body is Block[i mod Block.Length].</summary>
internal static class DemoPattern
{
    public const int BlockLength = 1_000_003;

    public static readonly byte[] Block = Make();

    /// <summary>Up to <paramref name="max"/> bytes of the body starting at <paramref name="offset"/> (never past the block's end).</summary>
    public static ReadOnlySpan<byte> At(long offset, int max)
    {
        int start = (int)(offset % BlockLength);
        return Block.AsSpan(start, Math.Min(max, BlockLength - start));
    }

    private static readonly ConcurrentDictionary<long, string> Digests = new();

    /// <summary>
    /// The hex SHA-256 of a body of <paramref name="length"/> pattern bytes, computed from the block (not from any
    /// bytes a sender handed to a stack) and remembered. The demo computes it before a transfer's clock starts, so
    /// the one hash inside the timed window is the receiver's over what arrived.
    /// </summary>
    public static string Digest(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return Digests.GetOrAdd(length, static n =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (long done = 0; done < n;)
            {
                ReadOnlySpan<byte> chunk = At(done, (int)Math.Min(BlockLength, n - done));
                hash.AppendData(chunk);
                done += chunk.Length;
            }
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        });
    }

    private static byte[] Make()
    {
        var block = new byte[BlockLength];
        new Random(20240601).NextBytes(block);
        return block;
    }
}
