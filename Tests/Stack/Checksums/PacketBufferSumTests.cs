// Sums over byte ranges of multi-segment PacketBuffers equal the sum over a flat copy of the same bytes,
// whatever the split: pieces of odd length make later pieces start in the middle of a 16-bit word.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Checksums;

namespace NetStack.Tests.Stack.Checksums;

public class PacketBufferSumTests
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "checksum-tests");

    [Fact]
    public void Odd_length_head_makes_the_next_segment_start_mid_word()
    {
        // RFC 1071 §3 example bytes split 3 + 5: the second piece starts at an odd position.
        byte[] flat = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7];
        PacketBuffer packet = Build(flat, [3, 5], sourcePadding: 1);
        try
        {
            Assert.Equal(2, packet.FragmentCount);
            Assert.Equal(0xDDF2, InternetChecksum.Fold(InternetChecksum.Sum(packet, 0, flat.Length)));
            // Range starting at byte 1 (odd): words are counted from the range start.
            Assert.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(flat.AsSpan(1, 6))),
                InternetChecksum.Fold(InternetChecksum.Sum(packet, 1, 6)));
        }
        finally
        {
            packet.Release();
        }
        Assert.Equal(0, _pool.LiveBuffers);
    }

    [Fact]
    public void Range_outside_the_packet_throws()
    {
        PacketBuffer packet = _pool.RentCopy(new byte[10]);
        try
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.Sum(packet, -1, 2));
            Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.Sum(packet, 0, -1));
            Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.Sum(packet, 5, 6));
            Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.Sum(packet, 11, 0));
            Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.Sum(packet, int.MaxValue, int.MaxValue));
            Assert.Equal(0x1234u, InternetChecksum.Sum(packet, 10, 0, 0x1234));
        }
        finally
        {
            packet.Release();
        }
        Assert.Equal(0, _pool.LiveBuffers);
    }

    [Property(MaxTest = 300)]
    public Property Random_segment_splits_sum_like_the_flat_buffer() =>
        Prop.ForAll(Arb.From(SplitGen()), c =>
        {
            PacketBuffer packet = Build(c.Bytes, c.Pieces, c.SourcePadding);
            bool ok;
            try
            {
                ok = packet.Length == c.Bytes.Length && packet.FragmentCount == c.Pieces.Length;
                ReadOnlySpan<byte> range = c.Bytes.AsSpan(c.RangeOffset, c.RangeLength);
                ushort expected = InternetChecksum.Fold(InternetChecksum.SumScalar(range, c.Initial));
                ok &= InternetChecksum.Fold(InternetChecksum.Sum(packet, c.RangeOffset, c.RangeLength, c.Initial)) == expected;
                ok &= InternetChecksum.Fold(InternetChecksum.Sum(packet, 0, c.Bytes.Length)) == InternetChecksum.Fold(InternetChecksum.SumScalar(c.Bytes));
            }
            finally
            {
                packet.Release();
            }
            return ok && _pool.LiveBuffers == 0;
        });

    [Fact]
    public void Sum_over_a_packet_does_not_allocate()
    {
        byte[] flat = new byte[3001];
        new Random(5).NextBytes(flat);
        PacketBuffer packet = Build(flat, [41, 1, 999, 1, 1000, 959], sourcePadding: 3);
        try
        {
            InternetChecksum.Sum(packet, 1, 3000);
            long before = GC.GetAllocatedBytesForCurrentThread();
            uint sum = InternetChecksum.Sum(packet, 1, 3000);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(flat.AsSpan(1, 3000))), InternetChecksum.Fold(sum));
        }
        finally
        {
            packet.Release();
        }
        Assert.Equal(0, _pool.LiveBuffers);
    }

    internal sealed record SplitCase(byte[] Bytes, int[] Pieces, int SourcePadding, int RangeOffset, int RangeLength, uint Initial);

    private static Gen<SplitCase> SplitGen() =>
        from length in Gen.Frequency((3, Gen.Choose(0, 200)), (2, Gen.Choose(0, 9000)))
        from bytes in Gen.ArrayOf(VectorizedSumTests.CarryHeavyByte(), length)
        from cutCount in Gen.Choose(0, 60)
        from cuts in Gen.ArrayOf(Gen.Choose(0, length), cutCount)
        from padding in Gen.Choose(0, 3)
        from rangeOffset in Gen.Choose(0, length)
        from rangeLength in Gen.Choose(0, length - rangeOffset)
        from initial in Gen.Elements(0u, 0xFFFFu, 0xFFFF_FFFFu, 0xABCDu)
        select new SplitCase(bytes, PiecesFromCuts(cuts, length), padding, rangeOffset, rangeLength, initial);

    // Cut points -> piece lengths; the first piece is the head (may be empty), later pieces are non-empty
    // payload segments (odd lengths are as likely as even ones).
    private static int[] PiecesFromCuts(int[] cuts, int length)
    {
        int[] sorted = [.. cuts.Where(c => c > 0 && c < length).Distinct().Order()];
        var pieces = new List<int>();
        int previous = 0;
        foreach (int cut in sorted)
        {
            pieces.Add(cut - previous);
            previous = cut;
        }
        pieces.Add(length - previous);
        if (length > 0 && sorted.Length > 0 && cuts.Contains(0))
        {
            pieces.Insert(0, 0); // an empty head followed by payload segments
        }
        return [.. pieces];
    }

    /// <summary>
    /// A packet whose head holds the first piece and whose payload segments reference the later pieces,
    /// each copied into its own pooled source buffer behind <paramref name="sourcePadding"/> junk bytes.
    /// </summary>
    private PacketBuffer Build(byte[] flat, int[] pieces, int sourcePadding)
    {
        PacketBuffer packet = _pool.RentCopy(flat.AsSpan(0, pieces[0]));
        int position = pieces[0];
        for (int i = 1; i < pieces.Length; i++)
        {
            byte[] padded = new byte[sourcePadding + pieces[i] + sourcePadding];
            padded.AsSpan().Fill(0xA5);
            flat.AsSpan(position, pieces[i]).CopyTo(padded.AsSpan(sourcePadding));
            PacketBuffer source = _pool.RentCopy(padded);
            try
            {
                Assert.True(packet.AppendReference(source, sourcePadding, pieces[i]));
            }
            finally
            {
                source.Release();
            }
            position += pieces[i];
        }
        Assert.Equal(flat.Length, position);
        return packet;
    }
}
