// Layer: checksums. Sums over a byte range of a PacketBuffer whose pieces (head, payload segments) may
// have any length, so a piece can start in the middle of a 16-bit word of the overall stream.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NetStack.Buffers;

namespace NetStack.Checksums;

public static partial class InternetChecksum
{
    /// <summary>
    /// Adds the bytes <paramref name="offset"/> to <paramref name="offset"/> + <paramref name="length"/> of
    /// <paramref name="packet"/> (the head, then the payload segments, as one byte stream) to
    /// <paramref name="initial"/>: the same result after <see cref="Fold"/> as <see cref="Sum(ReadOnlySpan{byte}, uint)"/>
    /// over a flat copy of that range. Words are counted from <paramref name="offset"/>; an odd final byte is
    /// padded with zero (RFC 1071 §4.1). Does not copy or allocate.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie within the packet.</exception>
    public static uint Sum(PacketBuffer packet, int offset, int length, uint initial = 0)
    {
        ArgumentNullException.ThrowIfNull(packet);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > packet.Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "The range runs past the end of the packet.");
        }

        // Native-order sums of the pieces that start at an even and at an odd position of the range.
        ulong even = 0, odd = 0;
        int position = 0;
        int skip = offset;
        int count = packet.FragmentCount;
        for (int i = 0; i < count && position < length; i++)
        {
            ReadOnlySpan<byte> piece = packet.GetFragment(i);
            if (skip >= piece.Length)
            {
                skip -= piece.Length;
                continue;
            }
            piece = piece[skip..];
            skip = 0;
            if (piece.Length > length - position)
            {
                piece = piece[..(length - position)];
            }
            ulong sum = NativeSum(ref MemoryMarshal.GetReference(piece), (nuint)piece.Length);
            if ((position & 1) == 0)
            {
                even = AddWithCarry(even, sum);
            }
            else
            {
                odd = AddWithCarry(odd, sum);
            }
            position += piece.Length;
        }

        // RFC 1071 §2(B): a piece starting at an odd position pairs its bytes one off from the stream's
        // words, so its contribution is its own sum byte-swapped.
        uint total = (uint)ToNetworkOrder(even) + BinaryPrimitives.ReverseEndianness(ToNetworkOrder(odd));
        return Add(initial, total);
    }
}
