// The vectorized sum against the scalar reference: every length up to past 64 KiB, every start offset,
// every vector width the host accelerates, and random contents biased towards carry-heavy bytes.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;

namespace NetStack.Tests.Stack.Checksums;

public class VectorizedSumTests
{
    private const int MaxLength = 70_000;
    private const int MaxOffset = 63;

    private static readonly byte[] s_buffer = MakeBuffer(MaxLength + 64, seed: 1071);

    // Prefix sums straight from the RFC 1071 definition: the byte at index k is the high byte of its word
    // when (k - start) is even, so one table per parity of the start. Sum of [start, start + length) =
    // table[start + length] - table[start]; an odd final byte lands as a high byte, zero-padded (§4.1).
    private static readonly long[] s_prefixEvenStart = Prefix(s_buffer, 0);
    private static readonly long[] s_prefixOddStart = Prefix(s_buffer, 1);

    [Fact]
    public void Sum_equals_reference_for_every_length_to_70000_at_every_offset_0_to_63()
    {
        for (int length = 0; length <= MaxLength; length++)
        {
            for (int offset = 0; offset <= MaxOffset; offset++)
            {
                ushort actual = InternetChecksum.Fold(InternetChecksum.Sum(s_buffer.AsSpan(offset, length)));
                if (actual != ReferenceFold(offset, length))
                {
                    Assert.Fail($"length {length} offset {offset}: got 0x{actual:X4}, expected 0x{ReferenceFold(offset, length):X4}");
                }
            }
        }
    }

    [Fact]
    public void Prefix_reference_equals_SumScalar()
    {
        // The prefix tables above are the oracle of the exhaustive test; tie them to SumScalar.
        for (int length = 0; length <= 3000; length++)
        {
            for (int offset = 0; offset <= MaxOffset; offset++)
            {
                Assert.Equal(ReferenceFold(offset, length), InternetChecksum.Fold(InternetChecksum.SumScalar(s_buffer.AsSpan(offset, length))));
            }
        }
        Assert.Equal(ReferenceFold(3, MaxLength), InternetChecksum.Fold(InternetChecksum.SumScalar(s_buffer.AsSpan(3, MaxLength))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    public void Each_vector_width_equals_SumScalar_for_lengths_to_4200_at_offsets_0_to_63(int vectorBits)
    {
        if (!InternetChecksum.IsVectorWidthAccelerated(vectorBits))
        {
            return; // the host does not run this path; the software fallback is not what ships
        }
        for (int length = 0; length <= 4200; length++)
        {
            for (int offset = 0; offset < 64; offset++)
            {
                ReadOnlySpan<byte> data = s_buffer.AsSpan(offset, length);
                ushort actual = InternetChecksum.Fold(InternetChecksum.SumWithVectorWidth(data, vectorBits));
                if (actual != InternetChecksum.Fold(InternetChecksum.SumScalar(data)))
                {
                    Assert.Fail($"width {vectorBits} length {length} offset {offset}: got 0x{actual:X4}");
                }
            }
        }
        ReadOnlySpan<byte> big = s_buffer.AsSpan(7, MaxLength);
        Assert.Equal(ReferenceFold(7, MaxLength), InternetChecksum.Fold(InternetChecksum.SumWithVectorWidth(big, vectorBits)));
    }

    [Property(MaxTest = 300)]
    public Property Sum_equals_SumScalar_on_random_contents_lengths_offsets_and_initial_sums() =>
        Prop.ForAll(Arb.From(CaseGen()), c =>
        {
            ReadOnlySpan<byte> data = c.Bytes.AsSpan(c.Offset);
            ushort expected = InternetChecksum.Fold(InternetChecksum.SumScalar(data, c.Initial));
            bool ok = InternetChecksum.Fold(InternetChecksum.Sum(data, c.Initial)) == expected;
            foreach (int bits in (int[])[0, 128, 256, 512])
            {
                if (InternetChecksum.IsVectorWidthAccelerated(bits))
                {
                    ok &= InternetChecksum.Fold(InternetChecksum.SumWithVectorWidth(data, bits, c.Initial)) == expected;
                }
            }
            return ok;
        });

    [Fact]
    public void Sum_does_not_allocate()
    {
        byte[] data = s_buffer.AsSpan(0, 1500).ToArray();
        InternetChecksum.Sum(data);
        long before = GC.GetAllocatedBytesForCurrentThread();
        uint acc = 0;
        for (int i = 0; i < 100; i++)
        {
            acc = InternetChecksum.Sum(data.AsSpan(i & 31), acc);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0u, acc);
    }

    internal sealed record SumCase(byte[] Bytes, int Offset, uint Initial);

    internal static Gen<SumCase> CaseGen() =>
        from length in Gen.Frequency((4, Gen.Choose(0, 300)), (3, Gen.Choose(0, 4000)), (1, Gen.Choose(0, MaxLength)))
        from offset in Gen.Choose(0, 63)
        from bytes in Gen.ArrayOf(CarryHeavyByte(), offset + length)
        from initial in Gen.Elements(0u, 0xFFFFu, 0xFFFF_FFFFu, 0x1_0000u, 0x1234_5678u)
        select new SumCase(bytes, offset, initial);

    /// <summary>Bytes biased to 0x00 and 0xFF so long runs of carries and all-zero spans show up.</summary>
    internal static Gen<byte> CarryHeavyByte() =>
        Gen.Frequency((2, Gen.Constant((byte)0xFF)), (1, Gen.Constant((byte)0)), (3, ArbMap.Default.GeneratorFor<byte>()));

    private static ushort ReferenceFold(int offset, int length)
    {
        long[] table = (offset & 1) == 0 ? s_prefixEvenStart : s_prefixOddStart;
        long sum = table[offset + length] - table[offset];
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    private static long[] Prefix(byte[] data, int startParity)
    {
        var table = new long[data.Length + 1];
        for (int k = 0; k < data.Length; k++)
        {
            bool high = ((k - startParity) & 1) == 0;
            table[k + 1] = table[k] + (high ? data[k] << 8 : data[k]);
        }
        return table;
    }

    private static byte[] MakeBuffer(int length, int seed)
    {
        var random = new Random(seed);
        var data = new byte[length];
        random.NextBytes(data);
        // Runs of 0xFF make every lane carry; a run of zeros checks the +0 / -0 distinction inside a span.
        data.AsSpan(1000, 5000).Fill(0xFF);
        data.AsSpan(40_000, 3000).Fill(0);
        return data;
    }
}
