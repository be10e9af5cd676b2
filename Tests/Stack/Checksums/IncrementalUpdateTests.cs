// RFC 1624 incremental update: changing one 16-bit or 32-bit field and updating the checksum equals
// recomputing it, including the cases where the checksum is or becomes 0x0000 or 0xFFFF.
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;

namespace NetStack.Tests.Stack.Checksums;

public class IncrementalUpdateTests
{
    [Fact]
    public void Rfc1624_section4_example_gives_0000_where_eqn2_gave_ffff()
    {
        // RFC 1624 §4: the other header words sum to 0xCD7A, a field changes from 0x5555 to 0x3285.
        byte[] before = [0xCD, 0x7A, 0x55, 0x55];
        byte[] after = [0xCD, 0x7A, 0x32, 0x85];
        Assert.Equal(0xDD2F, InternetChecksum.Compute(before));
        Assert.Equal(0x0000, InternetChecksum.Compute(after));
        Assert.Equal(0x0000, InternetChecksum.Update(0xDD2F, (ushort)0x5555, (ushort)0x3285));
    }

    [Fact]
    public void Rfc1624_erratum_4782_unchanged_field_keeps_a_0000_checksum()
    {
        // Erratum 4782 claims ~(0xFFFF + 0xAAAA + 0x5555) = 0xFFFF; with the end-around carry the sum is
        // 0xFFFF (-0), so the checksum stays 0x0000.
        byte[] data = [0xAA, 0xAA, 0x55, 0x55];
        Assert.Equal(0x0000, InternetChecksum.Compute(data));
        Assert.Equal(0x0000, InternetChecksum.Update(0x0000, (ushort)0x5555, (ushort)0x5555));
    }

    [Fact]
    public void Rfc1624_ttl_decrement_on_real_ipv4_header()
    {
        byte[] header = Convert.FromHexString("45000073000040004011B861C0A80001C0A800C7");
        ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(8));
        header[8]--; // TTL 64 -> 63 (RFC 1812 §5.3.1 forwarding)
        ushort newWord = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(8));
        ushort updated = InternetChecksum.Update(0xB861, oldWord, newWord);

        header[10] = header[11] = 0;
        Assert.Equal(InternetChecksum.Compute(header), updated);
        Assert.Equal(0xB961, updated);
    }

    [Fact]
    public void Rfc1624_32bit_update_of_an_ipv4_address()
    {
        byte[] header = Convert.FromHexString("450000730000400040110000C0A80001C0A800C7");
        ushort checksum = InternetChecksum.Compute(header);
        uint oldAddress = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        uint newAddress = 0x0A00_0001; // NAT rewrite of the source to 10.0.0.1
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), newAddress);
        Assert.Equal(InternetChecksum.Compute(header), InternetChecksum.Update(checksum, oldAddress, newAddress));
    }

    [Property(MaxTest = 2000)]
    public Property Updating_a_16bit_word_equals_recomputing() =>
        Prop.ForAll(Arb.From(WordCase(CornerWord(), 1)), c =>
        {
            ushort before = InternetChecksum.Compute(WordsToBytes(c.Words));
            ushort oldValue = c.Words[c.Index];
            c.Words[c.Index] = (ushort)c.NewValue;
            ushort after = InternetChecksum.Compute(WordsToBytes(c.Words));
            ushort updated = InternetChecksum.Update(before, oldValue, (ushort)c.NewValue);
            return ExpectedAgreement(c.Words, updated, after);
        });

    [Property(MaxTest = 2000)]
    public Property Updating_a_32bit_field_equals_recomputing() =>
        Prop.ForAll(Arb.From(WordCase(CornerDoubleWord(), 2)), c =>
        {
            ushort before = InternetChecksum.Compute(WordsToBytes(c.Words));
            uint oldValue = (uint)c.Words[c.Index] << 16 | c.Words[c.Index + 1];
            c.Words[c.Index] = (ushort)(c.NewValue >> 16);
            c.Words[c.Index + 1] = (ushort)c.NewValue;
            ushort after = InternetChecksum.Compute(WordsToBytes(c.Words));
            ushort updated = InternetChecksum.Update(before, oldValue, c.NewValue);
            return ExpectedAgreement(c.Words, updated, after);
        });

    [Fact]
    public void Only_all_zero_data_separates_update_from_recompute()
    {
        // RFC 1624 §3: a recomputed checksum is 0xFFFF only when every covered word is zero; eqn. 3 then
        // yields 0x0000, the other representation of zero. Real headers never get there (IPv4 version,
        // the pseudo-header's protocol field are non-zero).
        byte[] data = [0x00, 0x00, 0x12, 0x34];
        ushort before = InternetChecksum.Compute(data);
        Assert.Equal(0xFFFF, InternetChecksum.Compute(new byte[4]));
        Assert.Equal(0x0000, InternetChecksum.Update(before, (ushort)0x1234, (ushort)0));
        // ... and back: from the all-zero checksum 0xFFFF to a non-zero word is exact.
        Assert.Equal(before, InternetChecksum.Update(0xFFFF, (ushort)0, (ushort)0x1234));
    }

    private static bool ExpectedAgreement(ushort[] newWords, ushort updated, ushort recomputed) =>
        newWords.All(w => w == 0)
            ? recomputed == 0xFFFF && updated == 0x0000 // the one divergence, see the fact above
            : updated == recomputed;

    internal sealed record UpdateCase(ushort[] Words, int Index, uint NewValue);

    private static Gen<UpdateCase> WordCase(Gen<uint> newValue, int fieldWords) =>
        from count in Gen.Choose(fieldWords, 12)
        from words in Gen.ArrayOf(CornerWord().Select(v => (ushort)v), count)
        from index in Gen.Choose(0, count - fieldWords)
        from value in newValue
        select new UpdateCase(words, index, value);

    // Values around the two zeros: 0x0000, 0xFFFF and their neighbours dominate, random words fill in.
    private static Gen<uint> CornerWord() =>
        Gen.Frequency(
            (3, Gen.Elements(0u, 0xFFFFu, 1u, 0xFFFEu, 0x8000u)),
            (2, Gen.Choose(0, 0xFFFF).Select(v => (uint)v)));

    private static Gen<uint> CornerDoubleWord() =>
        Gen.Frequency(
            (3, Gen.Elements(0u, 0xFFFF_FFFFu, 0x0000_FFFFu, 0xFFFF_0000u, 1u, 0xFFFF_FFFEu)),
            (2, Gen.Zip(CornerWord(), CornerWord(), (hi, lo) => hi << 16 | lo)));

    private static byte[] WordsToBytes(ushort[] words)
    {
        var bytes = new byte[words.Length * 2];
        for (int i = 0; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2 * i), words[i]);
        }
        return bytes;
    }
}
