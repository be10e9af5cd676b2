// Layer: checksums. The vectorized core: a ones'-complement sum of native-endian 16-bit words.
// RFC 1071 §2(B): the sum does not depend on byte order (swapping the bytes of every word swaps the bytes
// of the folded sum), so words are added as the CPU loads them and the folded 16-bit result is swapped
// once at the end on little-endian hosts. RFC 1071 §2(C): words can be added in parallel in wider
// registers and the carries folded in afterwards; here each 32-bit half of a vector's 64-bit lanes goes
// into a 64-bit lane accumulator, which cannot overflow for any span (< 2^31 bytes).
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NetStack.Checksums;

public static partial class InternetChecksum
{
    private const ulong Low32 = 0xFFFF_FFFF;

    /// <summary>
    /// The ones'-complement sum of <paramref name="length"/> bytes at <paramref name="data"/> read as
    /// native-endian 16-bit words (an odd final byte is the first byte of a zero-padded word), as a 64-bit
    /// value with end-around carries (congruent to the word sum modulo 0xFFFF, zero only for all-zero data).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong NativeSum(ref byte data, nuint length)
    {
        nuint offset = 0;
        ulong acc = 0;
        if (Vector512.IsHardwareAccelerated && length >= (nuint)Vector512<byte>.Count)
        {
            acc = SumBlocks512(ref data, length, ref offset);
        }
        else if (Vector256.IsHardwareAccelerated && length >= (nuint)Vector256<byte>.Count)
        {
            acc = SumBlocks256(ref data, length, ref offset);
        }
        else if (Vector128.IsHardwareAccelerated && length >= (nuint)Vector128<byte>.Count)
        {
            acc = SumBlocks128(ref data, length, ref offset);
        }
        return AddTail(acc, ref data, offset, length);
    }

    /// <summary>
    /// <see cref="Sum(ReadOnlySpan{byte}, uint)"/> forced to one vector width (512, 256, 128, or 0 for the
    /// 64-bit scalar loop), so tests and benchmarks can reach every path whatever the host picks.
    /// </summary>
    internal static uint SumWithVectorWidth(ReadOnlySpan<byte> data, int vectorBits, uint initial = 0)
    {
        ref byte start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint offset = 0;
        ulong acc = 0;
        switch (vectorBits)
        {
            case 512:
                if (length >= (nuint)Vector512<byte>.Count)
                {
                    acc = SumBlocks512(ref start, length, ref offset);
                }
                break;
            case 256:
                if (length >= (nuint)Vector256<byte>.Count)
                {
                    acc = SumBlocks256(ref start, length, ref offset);
                }
                break;
            case 128:
                if (length >= (nuint)Vector128<byte>.Count)
                {
                    acc = SumBlocks128(ref start, length, ref offset);
                }
                break;
            case 0:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(vectorBits));
        }
        return Add(initial, ToNetworkOrder(AddTail(acc, ref start, offset, length)));
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

    // Whole vectors from offset while they fit: four independent accumulators in the unrolled loop, so the
    // adds do not wait on each other. Leaves offset at the first byte not summed (fewer than one vector left).
    private static ulong SumBlocks512(ref byte data, nuint length, ref nuint offset)
    {
        nuint width = (nuint)Vector512<byte>.Count;
        Vector512<ulong> low = Vector512.Create(Low32);
        Vector512<ulong> a0 = Vector512<ulong>.Zero, a1 = Vector512<ulong>.Zero, a2 = Vector512<ulong>.Zero, a3 = Vector512<ulong>.Zero;
        nuint i = offset;
        if (length - i >= 4 * width)
        {
            nuint last = length - 4 * width;
            do
            {
                Vector512<ulong> v0 = Vector512.LoadUnsafe(ref data, i).AsUInt64();
                Vector512<ulong> v1 = Vector512.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector512<ulong> v2 = Vector512.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector512<ulong> v3 = Vector512.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                a0 += (v0 & low) + (v0 >>> 32);
                a1 += (v1 & low) + (v1 >>> 32);
                a2 += (v2 & low) + (v2 >>> 32);
                a3 += (v3 & low) + (v3 >>> 32);
                i += 4 * width;
            }
            while (i <= last);
        }
        while (length - i >= width)
        {
            Vector512<ulong> v = Vector512.LoadUnsafe(ref data, i).AsUInt64();
            a0 += (v & low) + (v >>> 32);
            i += width;
        }
        offset = i;
        return Vector512.Sum((a0 + a1) + (a2 + a3));
    }

    private static ulong SumBlocks256(ref byte data, nuint length, ref nuint offset)
    {
        nuint width = (nuint)Vector256<byte>.Count;
        Vector256<ulong> low = Vector256.Create(Low32);
        Vector256<ulong> a0 = Vector256<ulong>.Zero, a1 = Vector256<ulong>.Zero, a2 = Vector256<ulong>.Zero, a3 = Vector256<ulong>.Zero;
        nuint i = offset;
        if (length - i >= 4 * width)
        {
            nuint last = length - 4 * width;
            do
            {
                Vector256<ulong> v0 = Vector256.LoadUnsafe(ref data, i).AsUInt64();
                Vector256<ulong> v1 = Vector256.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector256<ulong> v2 = Vector256.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector256<ulong> v3 = Vector256.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                a0 += (v0 & low) + (v0 >>> 32);
                a1 += (v1 & low) + (v1 >>> 32);
                a2 += (v2 & low) + (v2 >>> 32);
                a3 += (v3 & low) + (v3 >>> 32);
                i += 4 * width;
            }
            while (i <= last);
        }
        while (length - i >= width)
        {
            Vector256<ulong> v = Vector256.LoadUnsafe(ref data, i).AsUInt64();
            a0 += (v & low) + (v >>> 32);
            i += width;
        }
        offset = i;
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }

    private static ulong SumBlocks128(ref byte data, nuint length, ref nuint offset)
    {
        nuint width = (nuint)Vector128<byte>.Count;
        Vector128<ulong> low = Vector128.Create(Low32);
        Vector128<ulong> a0 = Vector128<ulong>.Zero, a1 = Vector128<ulong>.Zero, a2 = Vector128<ulong>.Zero, a3 = Vector128<ulong>.Zero;
        nuint i = offset;
        if (length - i >= 4 * width)
        {
            nuint last = length - 4 * width;
            do
            {
                Vector128<ulong> v0 = Vector128.LoadUnsafe(ref data, i).AsUInt64();
                Vector128<ulong> v1 = Vector128.LoadUnsafe(ref data, i + width).AsUInt64();
                Vector128<ulong> v2 = Vector128.LoadUnsafe(ref data, i + 2 * width).AsUInt64();
                Vector128<ulong> v3 = Vector128.LoadUnsafe(ref data, i + 3 * width).AsUInt64();
                a0 += (v0 & low) + (v0 >>> 32);
                a1 += (v1 & low) + (v1 >>> 32);
                a2 += (v2 & low) + (v2 >>> 32);
                a3 += (v3 & low) + (v3 >>> 32);
                i += 4 * width;
            }
            while (i <= last);
        }
        while (length - i >= width)
        {
            Vector128<ulong> v = Vector128.LoadUnsafe(ref data, i).AsUInt64();
            a0 += (v & low) + (v >>> 32);
            i += width;
        }
        offset = i;
        return Vector128.Sum((a0 + a1) + (a2 + a3));
    }

    // The bytes after the vectors (or all of them without SIMD): 8, 4, 2 and 1 bytes at a time, native order.
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
            // RFC 1071 §4.1: the odd byte is the high (first) byte of a zero-padded word; in a native
            // little-endian word the first byte is the low one.
            acc = AddWithCarry(acc, BitConverter.IsLittleEndian ? p : (ulong)p << 8);
        }
        return acc;
    }
}
