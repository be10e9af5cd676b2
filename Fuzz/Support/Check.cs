// Invariant checks for fuzz targets: cheap when they hold, a FuzzInvariantException with the values when not.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace NetStack.Fuzz.Support;

/// <summary>Assertions that throw <see cref="FuzzInvariantException"/>; never compiled out.</summary>
public static class Check
{
    /// <summary>Fails unless <paramref name="condition"/> holds.</summary>
    public static void True([DoesNotReturnIf(false)] bool condition, string what, [CallerArgumentExpression(nameof(condition))] string? expression = null)
    {
        if (!condition)
        {
            throw new FuzzInvariantException($"{what} ({expression})");
        }
    }

    /// <summary>Fails unless <paramref name="expected"/> equals <paramref name="actual"/>.</summary>
    public static void Equal<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            throw new FuzzInvariantException($"{what}: expected {expected}, got {actual}");
        }
    }

    /// <summary>Fails unless the two spans hold the same bytes.</summary>
    public static void BytesEqual(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string what)
    {
        if (!expected.SequenceEqual(actual))
        {
            throw new FuzzInvariantException($"{what}: expected {Convert.ToHexString(expected)}, got {Convert.ToHexString(actual)}");
        }
    }

    /// <summary>Fails when a pool has buffers or chunks out after an input (a leak).</summary>
    public static void NoLeaks(NetStack.Buffers.PacketBufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (pool.LiveBuffers != 0 || pool.LiveChunks != 0)
        {
            throw new FuzzInvariantException($"leak: {pool.LiveBuffers} live buffer(s), {pool.LiveChunks} live chunk(s): {pool.DescribeLive()}");
        }
    }
}
