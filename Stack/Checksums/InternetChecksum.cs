// Layer: checksums. The RFC 1071 internet checksum: a ones'-complement sum of 16-bit big-endian words.
// Sums are carried as uint "partial sums" in network word order so they compose: sum a pseudo-header,
// then the header, then each payload segment, then Fold and complement once.
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace NetStack.Checksums;

/// <summary>
/// RFC 1071 internet checksum over spans, pseudo-header sums (RFC 768/9293 for IPv4, RFC 8200 §8.1 for
/// IPv6) and incremental update (RFC 1624). A partial sum is a <see cref="uint"/> whose folded value is the
/// ones'-complement sum of the data read as big-endian 16-bit words.
/// </summary>
public static partial class InternetChecksum
{
    /// <summary>
    /// Adds <paramref name="data"/> to <paramref name="initial"/>, reading big-endian 16-bit words from the
    /// start of the span; an odd final byte is the high byte of a word padded with zero (RFC 1071 §4.1).
    /// Vectorized (the widest of <see cref="System.Runtime.Intrinsics.Vector512"/>, <c>Vector256</c> and
    /// <c>Vector128</c> the hardware accelerates); any start alignment and length. Partial sums from this
    /// method and <see cref="SumScalar"/> may differ as <see cref="uint"/>s but always agree after <see cref="Fold"/>.
    /// </summary>
    public static uint Sum(ReadOnlySpan<byte> data, uint initial = 0) =>
        Add(initial, ToNetworkOrder(NativeSum(ref MemoryMarshal.GetReference(data), (nuint)data.Length)));

    /// <summary>
    /// Scalar reference implementation of <see cref="Sum(ReadOnlySpan{byte}, uint)"/>: one big-endian word at a
    /// time, straight from the definition. Used by tests as the oracle; not meant for the data path.
    /// </summary>
    public static uint SumScalar(ReadOnlySpan<byte> data, uint initial = 0)
    {
        ulong acc = initial;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            acc += BinaryPrimitives.ReadUInt16BigEndian(data.Slice(i, 2));
        }
        if (i < data.Length)
        {
            acc += (uint)data[i] << 8;
        }
        return FoldTo32(acc);
    }

    /// <summary>Folds a 64-bit accumulator into a 32-bit partial sum without losing carries.</summary>
    internal static uint FoldTo32(ulong acc)
    {
        acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
        acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
        return (uint)acc;
    }

    /// <summary>Adds two partial sums (ones'-complement addition).</summary>
    public static uint Add(uint a, uint b) => FoldTo32((ulong)a + b);

    /// <summary>Folds a partial sum to 16 bits (end-around carry), not complemented.</summary>
    public static ushort Fold(uint sum)
    {
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>The checksum field value for <paramref name="data"/> plus <paramref name="initial"/>: the complement of the folded sum.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data, uint initial = 0) => (ushort)~Fold(Sum(data, initial));

    /// <summary>The complement of the folded partial sum: the value to store in a checksum field.</summary>
    public static ushort Finish(uint sum) => (ushort)~Fold(sum);

    /// <summary>
    /// Pseudo-header partial sum for IPv4 (RFC 9293 §3.1, RFC 768): source, destination, zero, protocol and
    /// upper-layer length.
    /// </summary>
    /// <param name="source">4-byte source address in network order.</param>
    /// <param name="destination">4-byte destination address in network order.</param>
    /// <param name="protocol">Upper-layer protocol number.</param>
    /// <param name="upperLayerLength">Length of the upper-layer header plus payload.</param>
    public static uint PseudoHeaderSumV4(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int upperLayerLength)
    {
        ulong acc = (ulong)BinaryPrimitives.ReadUInt16BigEndian(source) + BinaryPrimitives.ReadUInt16BigEndian(source[2..4])
            + BinaryPrimitives.ReadUInt16BigEndian(destination) + BinaryPrimitives.ReadUInt16BigEndian(destination[2..4])
            + protocol + (uint)(ushort)upperLayerLength + ((uint)upperLayerLength >> 16);
        return FoldTo32(acc);
    }

    /// <summary>
    /// Pseudo-header partial sum for IPv6 (RFC 8200 §8.1): source, destination, 32-bit upper-layer length,
    /// three zero bytes and the next-header value.
    /// </summary>
    public static uint PseudoHeaderSumV6(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte nextHeader, int upperLayerLength)
    {
        uint acc = Sum(source[..16]);
        acc = Sum(destination[..16], acc);
        return FoldTo32((ulong)acc + ((uint)upperLayerLength >> 16) + (ushort)upperLayerLength + nextHeader);
    }

    /// <summary>
    /// RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the covered data changed from
    /// <paramref name="oldValue"/> to <paramref name="newValue"/>: HC' = ~(~HC + ~m + m').
    /// </summary>
    /// <remarks>
    /// Equals recomputing from scratch, except when every covered word becomes zero: recomputing then gives
    /// 0xFFFF, and eqn. 3 gives 0x0000, the other ones'-complement zero (RFC 1624 §3). Neither IP headers nor
    /// pseudo-headers can be all zero.
    /// </remarks>
    public static ushort Update(ushort checksum, ushort oldValue, ushort newValue)
    {
        uint sum = (uint)(ushort)~checksum + (ushort)~oldValue + newValue;
        return (ushort)~Fold(sum);
    }

    /// <summary>RFC 1624 incremental update for a 32-bit field (e.g. a sequence number or an IPv4 address).</summary>
    public static ushort Update(ushort checksum, uint oldValue, uint newValue)
    {
        uint sum = (uint)(ushort)~checksum + (ushort)~(ushort)(oldValue >> 16) + (ushort)~(ushort)oldValue
            + (ushort)(newValue >> 16) + (ushort)newValue;
        return (ushort)~Fold(sum);
    }
}
