// Layer: checksums. The vectorized core: a ones'-complement sum of native-endian 16-bit words.
// RFC 1071 §2(B): the sum does not depend on byte order (swapping the bytes of every word swaps the bytes
// of the folded sum), so words are added as the CPU loads them and the folded 16-bit result is swapped
// once at the end on little-endian hosts. RFC 1071 §2(C): words can be added in parallel in wider
// registers and the carries folded in afterwards; here 64-bit lanes accumulate the data's 32-bit halves
// (each congruent to the sum of its two words modulo 0xFFFF) exactly, for any span.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetStack.Checksums;

public static partial class InternetChecksum
{
    /// <summary>
    /// The ones'-complement sum of <paramref name="length"/> bytes at <paramref name="data"/> read as
    /// native-endian 16-bit words (an odd final byte is the first byte of a zero-padded word), as a 64-bit
    /// value with end-around carries (congruent to the word sum modulo 0xFFFF, zero only for all-zero data).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong NativeSum(ref byte data, nuint length)
    {
        // Wide vectors pay a costlier lane reduction: below a few vectors' worth a narrower one wins
        // (measured at 64 B: Vector128 2.3 ns, Vector512 3.2 ns; see BENCHMARKS.md).
        if (Vector512.IsHardwareAccelerated && length >= 4 * (nuint)Vector512<byte>.Count)
        {
            return SumVectors512(ref data, length);
        }
        if (Vector256.IsHardwareAccelerated && length >= 4 * (nuint)Vector256<byte>.Count)
        {
            return SumVectors256(ref data, length);
        }
        if (Vector128.IsHardwareAccelerated && length >= (nuint)Vector128<byte>.Count)
        {
            return SumVectors128(ref data, length);
        }
        return AddTail(0, ref data, 0, length);
    }

    /// <summary>
    /// <see cref="Sum(ReadOnlySpan{byte}, uint)"/> forced to one vector width (512, 256, 128, or 0 for the
    /// 64-bit scalar loop), so tests and benchmarks can reach every path whatever the host picks. Spans
    /// shorter than one vector take the scalar loop.
    /// </summary>
    internal static uint SumWithVectorWidth(ReadOnlySpan<byte> data, int vectorBits, uint initial = 0)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        ulong sum = vectorBits switch
        {
            512 when length >= (nuint)Vector512<byte>.Count => SumVectors512(ref start, length),
            256 when length >= (nuint)Vector256<byte>.Count => SumVectors256(ref start, length),
            128 when length >= (nuint)Vector128<byte>.Count => SumVectors128(ref start, length),
            0 or 128 or 256 or 512 => AddTail(0, ref start, 0, length),
            _ => throw new ArgumentOutOfRangeException(nameof(vectorBits)),
        };
        return Add(initial, ToNetworkOrder(sum));
    }

    /// <summary>Whether the hardware accelerates vectors of <paramref name="vectorBits"/> bits (0: always true).</summary>
    internal static bool IsVectorWidthAccelerated(int vectorBits) => vectorBits switch
    {
        512 => Vector512.IsHardwareAccelerated,
        256 => Vector256.IsHardwareAccelerated,
        128 => Vector128.IsHardwareAccelerated,
        0 => true,
        _ => false,
    };

    /// <summary>Folds a native-order 64-bit sum to 16 bits and puts it in network order (RFC 1071 §2(B)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort ToNetworkOrder(ulong nativeSum)
    {
        ushort folded = Fold(FoldTo32(nativeSum));
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    /// <summary>64-bit ones'-complement addition (end-around carry).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong AddWithCarry(ulong a, ulong b)
    {
        ulong sum = a + b;
        return sum + (sum < b ? 1UL : 0UL);
    }

    // A vector of width w loaded at TailMask[64 - w + r] is zeros then r bytes of 0xFF: it keeps the last r
    // bytes of a window.
    private static ReadOnlySpan<byte> TailMask =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];

    /// <summary>Sum of <paramref name="length"/> (at least one vector) bytes with Vector512; see <see cref="NativeSum"/>.</summary>
    private static ulong SumVectors512(ref byte data, nuint length)
    {
        nuint width = (nuint)Vector512<byte>.Count;
        // An odd final byte is added on its own, so the even-length rest can end on a whole-vector window.
        nuint even = length & ~(nuint)1;
        // Per 64-bit lane: full = sum of the lanes mod 2^64 (the 32-bit carries land in the high half),
        // high = exact sum of the high 32-bit halves. Three operations per vector.
        Vector512<ulong> full = Vector512<ulong>.Zero, high = Vector512<ulong>.Zero;
        nuint i = 0;
        if (even >= 4 * width)
        {
            nuint last = even - 4 * width;
            do
            {
                Vector512<ulong> v0 = Vector512.LoadUnsafe(ref data, i).AsUInt64();
                Vector512<ulong> v1 = Vector512.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector512<ulong> v2 = Vector512.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector512<ulong> v3 = Vector512.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                full += (v0 + v1) + (v2 + v3);
                high += ((v0 >>> 32) + (v1 >>> 32)) + ((v2 >>> 32) + (v3 >>> 32));
                i += 4 * width;
            }
            while (i <= last);
        }
        while (even - i >= width)
        {
            Vector512<ulong> v = Vector512.LoadUnsafe(ref data, i).AsUInt64();
            full += v;
            high += v >>> 32;
            i += width;
        }
        nuint rest = even - i;
        if (rest != 0)
        {
            // The last whole vector of the even part starts at an even offset, so its words line up with the
            // data's; the bytes already summed are masked to zero.
            Vector512<byte> mask = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(TailMask), (nuint)Vector512<byte>.Count - width + rest);
            Vector512<ulong> v = (Vector512.LoadUnsafe(ref data, even - width) & mask).AsUInt64();
            full += v;
            high += v >>> 32;
        }
        // full - (high << 32) is the exact sum of the low halves (it stays below 2^64 for any span).
        ulong sum = Vector512.Sum(full - (high << 32) + high);
        if (even != length)
        {
            sum = AddWithCarry(sum, OddByte(Unsafe.Add(ref data, even)));
        }
        return sum;
    }

    /// <summary>Sum of <paramref name="length"/> (at least one vector) bytes with Vector256; see <see cref="NativeSum"/>.</summary>
    private static ulong SumVectors256(ref byte data, nuint length)
    {
        nuint width = (nuint)Vector256<byte>.Count;
        // An odd final byte is added on its own, so the even-length rest can end on a whole-vector window.
        nuint even = length & ~(nuint)1;
        // Per 64-bit lane: full = sum of the lanes mod 2^64 (the 32-bit carries land in the high half),
        // high = exact sum of the high 32-bit halves. Three operations per vector.
        Vector256<ulong> full = Vector256<ulong>.Zero, high = Vector256<ulong>.Zero;
        nuint i = 0;
        if (even >= 4 * width)
        {
            nuint last = even - 4 * width;
            do
            {
                Vector256<ulong> v0 = Vector256.LoadUnsafe(ref data, i).AsUInt64();
                Vector256<ulong> v1 = Vector256.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector256<ulong> v2 = Vector256.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector256<ulong> v3 = Vector256.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                full += (v0 + v1) + (v2 + v3);
                high += ((v0 >>> 32) + (v1 >>> 32)) + ((v2 >>> 32) + (v3 >>> 32));
                i += 4 * width;
            }
            while (i <= last);
        }
        while (even - i >= width)
        {
            Vector256<ulong> v = Vector256.LoadUnsafe(ref data, i).AsUInt64();
            full += v;
            high += v >>> 32;
            i += width;
        }
        nuint rest = even - i;
        if (rest != 0)
        {
            // The last whole vector of the even part starts at an even offset, so its words line up with the
            // data's; the bytes already summed are masked to zero.
            Vector256<byte> mask = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(TailMask), (nuint)Vector512<byte>.Count - width + rest);
            Vector256<ulong> v = (Vector256.LoadUnsafe(ref data, even - width) & mask).AsUInt64();
            full += v;
            high += v >>> 32;
        }
        // full - (high << 32) is the exact sum of the low halves (it stays below 2^64 for any span).
        ulong sum = Vector256.Sum(full - (high << 32) + high);
        if (even != length)
        {
            sum = AddWithCarry(sum, OddByte(Unsafe.Add(ref data, even)));
        }
        return sum;
    }

    /// <summary>Sum of <paramref name="length"/> (at least one vector) bytes with Vector128; see <see cref="NativeSum"/>.</summary>
    private static ulong SumVectors128(ref byte data, nuint length)
    {
        nuint width = (nuint)Vector128<byte>.Count;
        // An odd final byte is added on its own, so the even-length rest can end on a whole-vector window.
        nuint even = length & ~(nuint)1;
        // Per 64-bit lane: full = sum of the lanes mod 2^64 (the 32-bit carries land in the high half),
        // high = exact sum of the high 32-bit halves. Three operations per vector.
        Vector128<ulong> full = Vector128<ulong>.Zero, high = Vector128<ulong>.Zero;
        nuint i = 0;
        if (even >= 4 * width)
        {
            nuint last = even - 4 * width;
            do
            {
                Vector128<ulong> v0 = Vector128.LoadUnsafe(ref data, i).AsUInt64();
                Vector128<ulong> v1 = Vector128.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector128<ulong> v2 = Vector128.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector128<ulong> v3 = Vector128.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                full += (v0 + v1) + (v2 + v3);
                high += ((v0 >>> 32) + (v1 >>> 32)) + ((v2 >>> 32) + (v3 >>> 32));
                i += 4 * width;
            }
            while (i <= last);
        }
        while (even - i >= width)
        {
            Vector128<ulong> v = Vector128.LoadUnsafe(ref data, i).AsUInt64();
            full += v;
            high += v >>> 32;
            i += width;
        }
        nuint rest = even - i;
        if (rest != 0)
        {
            // The last whole vector of the even part starts at an even offset, so its words line up with the
            // data's; the bytes already summed are masked to zero.
            Vector128<byte> mask = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(TailMask), (nuint)Vector512<byte>.Count - width + rest);
            Vector128<ulong> v = (Vector128.LoadUnsafe(ref data, even - width) & mask).AsUInt64();
            full += v;
            high += v >>> 32;
        }
        // full - (high << 32) is the exact sum of the low halves (it stays below 2^64 for any span).
        ulong sum = Vector128.Sum(full - (high << 32) + high);
        if (even != length)
        {
            sum = AddWithCarry(sum, OddByte(Unsafe.Add(ref data, even)));
        }
        return sum;
    }

    // RFC 1071 §4.1: an odd final byte is the high (first) byte of a zero-padded word; in a native
    // little-endian word the first byte is the low one.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong OddByte(byte value) => BitConverter.IsLittleEndian ? value : (ulong)value << 8;

    // Spans shorter than a vector (or everything without SIMD): 8, 4, 2 and 1 bytes at a time, native order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AddTail(ulong acc, ref byte data, nuint offset, nuint length)
    {
        ref byte p = ref Unsafe.Add(ref data, offset);
        nuint remaining = length - offset;
        while (remaining >= 8)
        {
            acc = AddWithCarry(acc, Unsafe.ReadUnaligned<ulong>(ref p));
            p = ref Unsafe.Add(ref p, 8);
            remaining -= 8;
        }
        if (remaining >= 4)
        {
            acc = AddWithCarry(acc, Unsafe.ReadUnaligned<uint>(ref p));
            p = ref Unsafe.Add(ref p, 4);
            remaining -= 4;
        }
        if (remaining >= 2)
        {
            acc = AddWithCarry(acc, Unsafe.ReadUnaligned<ushort>(ref p));
            p = ref Unsafe.Add(ref p, 2);
            remaining -= 2;
        }
        if (remaining != 0)
        {
            acc = AddWithCarry(acc, OddByte(p));
        }
        return acc;
    }
}
