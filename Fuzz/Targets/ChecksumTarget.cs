// The internet checksum (RFC 1071): vectorized sums against the scalar reference at every alignment and vector
// width, and sums over byte ranges of multi-segment packets against the flat bytes.
using System.Globalization;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Fuzz.Support;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: for the input at offsets 0..3 and a few initial sums, <c>Sum</c> and every accelerated vector width
/// fold to the scalar reference; <c>Compute</c> is the complement of the folded sum; over a packet holding the input
/// in a head and payload segments cut at positions derived from the input, the sum of any range equals the scalar
/// sum of the same flat bytes; every buffer goes back to the pool.
/// </summary>
public sealed class ChecksumTarget : IFuzzTarget
{
    private static readonly uint[] Initials = [0, 0xFFFF, 0xFFFF_FFFF, 0x1_2345];
    private static readonly int[] Widths = [0, 128, 256, 512];

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-checksum");

    /// <inheritdoc/>
    public string Name => "Checksum";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        for (int offset = 0; offset < 4 && offset <= input.Length; offset++)
        {
            ReadOnlySpan<byte> data = input[offset..];
            foreach (uint initial in Initials)
            {
                ushort expected = InternetChecksum.Fold(InternetChecksum.SumScalar(data, initial));
                Same(expected, InternetChecksum.Fold(InternetChecksum.Sum(data, initial)), "Sum", offset, initial);
                foreach (int bits in Widths)
                {
                    if (InternetChecksum.IsVectorWidthAccelerated(bits))
                    {
                        Same(expected, InternetChecksum.Fold(InternetChecksum.SumWithVectorWidth(data, bits, initial)), bits.ToString(CultureInfo.InvariantCulture) + "-bit sum", offset, initial);
                    }
                }
                Check.Equal((ushort)~expected, InternetChecksum.Compute(data, initial), "Compute = ~Fold(Sum)");
            }
        }

        var random = new InputRandom(input, salt: 2);
        int headLength = random.Next(input.Length + 1);
        int[] cuts = SegmentedPacket.ChooseCuts(ref random, headLength, input.Length, maxCuts: 5);
        PacketBuffer packet = SegmentedPacket.Build(_pool, input, headLength, cuts, random.Next(4));
        try
        {
            Check.Equal(input.Length, packet.Length, "segmented length");
            for (int i = 0; i < 5; i++)
            {
                int start = i == 0 ? 0 : random.Next(input.Length + 1);
                int length = i == 0 ? input.Length : random.Next(input.Length - start + 1);
                uint initial = Initials[i % Initials.Length];
                ushort expected = InternetChecksum.Fold(InternetChecksum.SumScalar(input.Slice(start, length), initial));
                ushort actual = InternetChecksum.Fold(InternetChecksum.Sum(packet, start, length, initial));
                if (expected != actual)
                {
                    throw new FuzzInvariantException(
                        $"range [{start}, +{length}) initial 0x{initial:X} of a packet cut at head {headLength}, [{string.Join(",", cuts)}]: sum 0x{actual:X4}, scalar 0x{expected:X4}");
                }
            }
        }
        finally
        {
            packet.Release();
        }
        Check.NoLeaks(_pool);
    }

    private static void Same(ushort expected, ushort actual, string what, int offset, uint initial)
    {
        if (expected != actual)
        {
            throw new FuzzInvariantException($"{what} at offset {offset}, initial 0x{initial:X}: 0x{actual:X4}, scalar 0x{expected:X4}");
        }
    }
}
