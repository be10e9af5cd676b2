// Exact bytes with checksums known from the RFCs, from a real capture, or computed by hand.
using NetStack.Checksums;

namespace NetStack.Tests.Stack.Checksums;

public class KnownVectorTests
{
    // RFC 1071 §3: the example bytes and their sums in normal and swapped order.
    private static readonly byte[] s_rfc1071Example = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7];

    [Fact]
    public void Rfc1071_section3_example_sums_to_ddf2()
    {
        Assert.Equal(0xDDF2, InternetChecksum.Fold(InternetChecksum.Sum(s_rfc1071Example)));
        Assert.Equal(0xDDF2, InternetChecksum.Fold(InternetChecksum.SumScalar(s_rfc1071Example)));
        Assert.Equal(0x220D, InternetChecksum.Compute(s_rfc1071Example));
    }

    [Fact]
    public void Rfc1071_section3_byte_swapped_order_gives_swapped_sum()
    {
        byte[] swapped = [0x01, 0x00, 0x03, 0xF2, 0xF5, 0xF4, 0xF7, 0xF6];
        Assert.Equal(0xF2DD, InternetChecksum.Fold(InternetChecksum.Sum(swapped)));
    }

    [Fact]
    public void Ipv4_header_known_checksum_b861()
    {
        // 20-byte IPv4 header (UDP, 192.168.0.1 -> 192.168.0.199) with the checksum field zeroed.
        byte[] header = Convert.FromHexString("450000730000400040110000C0A80001C0A800C7");
        Assert.Equal(0xB861, InternetChecksum.Compute(header));

        // RFC 1071 §1: the receiver's sum over the header including its checksum is all ones.
        header[10] = 0xB8;
        header[11] = 0x61;
        Assert.Equal(0xFFFF, InternetChecksum.Fold(InternetChecksum.Sum(header)));
        Assert.Equal(0, InternetChecksum.Compute(header));
    }

    [Fact]
    public void Tcp_segment_over_ipv4_known_checksum_e1d3()
    {
        // 10.0.0.1:12345 -> 10.0.0.2:80, seq 1, PSH|ACK, window 65535, payload "hi!" (odd length);
        // checksum computed by hand from RFC 9293 §3.1 (pseudo-header + header + zero-padded payload).
        byte[] segment = Convert.FromHexString("3039005000000001000000005018FFFF00000000686921");
        uint pseudo = InternetChecksum.PseudoHeaderSumV4([10, 0, 0, 1], [10, 0, 0, 2], 6, segment.Length);
        Assert.Equal(0xE1D3, InternetChecksum.Compute(segment, pseudo));
        Assert.Equal(0xE1D3, InternetChecksum.Finish(InternetChecksum.SumScalar(segment, pseudo)));
        Assert.Equal(0xE1D3, PacketDotNetOracle.TcpChecksumV4([10, 0, 0, 1], [10, 0, 0, 2], segment));
    }

    [Fact]
    public void Odd_final_byte_is_the_high_byte_of_a_zero_padded_word()
    {
        // RFC 1071 §4.1.
        Assert.Equal(0xAB00, InternetChecksum.Fold(InternetChecksum.Sum([0xAB])));
        Assert.Equal(0x12AB + 0xCD00, (int)InternetChecksum.Fold(InternetChecksum.Sum([0x12, 0xAB, 0xCD])));
    }

    [Fact]
    public void Empty_span_returns_initial_sum()
    {
        Assert.Equal(0u, InternetChecksum.Sum([]));
        Assert.Equal(0x1234, InternetChecksum.Fold(InternetChecksum.Sum([], 0x1234)));
        Assert.Equal(0xFFFF, InternetChecksum.Compute([]));
    }

    [Fact]
    public void All_zero_data_sums_to_positive_zero_and_all_ones_to_negative_zero()
    {
        // Ones'-complement has two zeros (RFC 1624 §3): the sum is +0 only when every word is zero.
        byte[] zeros = new byte[65_537];
        byte[] ones = new byte[65_537];
        ones.AsSpan().Fill(0xFF);
        Assert.Equal(0, InternetChecksum.Fold(InternetChecksum.Sum(zeros)));
        Assert.Equal(0xFFFF, InternetChecksum.Fold(InternetChecksum.Sum(ones.AsSpan(0, 65_536))));
        Assert.Equal(InternetChecksum.Fold(InternetChecksum.SumScalar(ones)), InternetChecksum.Fold(InternetChecksum.Sum(ones)));
    }

    [Fact]
    public void Fold_and_Add_carry_end_around()
    {
        Assert.Equal(0x0001, InternetChecksum.Fold(0x0001_0000));
        Assert.Equal(0xFFFF, InternetChecksum.Fold(0xFFFF_0000));
        Assert.Equal(0xFFFF, InternetChecksum.Fold(0xFFFF_FFFF));
        Assert.Equal(1u, InternetChecksum.Add(0xFFFF_FFFF, 1));
        Assert.Equal(0x1234, InternetChecksum.Finish(0xEDCB));
    }
}
