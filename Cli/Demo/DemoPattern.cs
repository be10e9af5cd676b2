// netstack demo: the bytes every body carries, a seeded random block repeated (its prime length keeps a bug that
// repeats or drops a power-of-two sized run from going unnoticed by the hash).
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

    private static byte[] Make()
    {
        var block = new byte[BlockLength];
        new Random(20240601).NextBytes(block);
        return block;
    }
}
