using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class TcpOptionTests
{
    /// <summary>A bare ACK whose option area is <paramref name="optionsHex"/> (a multiple of 4 bytes).</summary>
    private static byte[] Segment(string optionsHex)
    {
        byte[] options = Convert.FromHexString(optionsHex);
        Assert.Equal(0, options.Length % 4);
        var segment = new byte[20 + options.Length];
        segment[12] = (byte)((5 + (options.Length / 4)) << 4);
        segment[13] = (byte)TcpFlags.Ack;
        options.CopyTo(segment, 20);
        return segment;
    }

    private static WireError Parse(string optionsHex, out TcpRepr repr)
    {
        byte[] segment = Segment(optionsHex);
        // TryCreate checks only the fixed header and data offset: malformed options pass it.
        Assert.True(TcpHeader.TryCreate(segment, out var header, out var error));
        Assert.Equal(WireError.None, error);
        bool ok = TcpRepr.TryParse(header, out repr, out error);
        Assert.Equal(ok, error == WireError.None);
        Assert.Equal(ok, TcpOptionReader.Validate(header.Options, out var walkError));
        Assert.Equal(error, walkError);
        return error;
    }

    [Theory]
    [InlineData("02000000", "length 0")]
    [InlineData("1e000000", "unknown kind, length 0")]
    [InlineData("02010000", "length 1")]
    [InlineData("1e010000", "unknown kind, length 1")]
    [InlineData("01010102", "length byte missing at the end of the area")]
    [InlineData("0101fe06", "unknown kind overruns the area")]
    [InlineData("020405b4080a0000", "timestamps overrun the area")]
    public void Rfc9293_3_2_MalformedLength_IsBadOption(string options, string why)
    {
        Assert.True(Parse(options, out _) == WireError.BadOption, why);
    }

    [Theory]
    [InlineData("020305b4", "MSS length 3")]
    [InlineData("020505b4000000", "MSS length 5 (padded)")]
    [InlineData("0302070000000000", "window scale length 2")]
    [InlineData("0304070001010101", "window scale length 4")]
    [InlineData("04030000", "SACK-permitted length 3")]
    [InlineData("080800000000000000000000", "timestamps length 8")]
    [InlineData("050200000000000000000000", "SACK with no block")]
    [InlineData("050c00000000000000000000", "SACK length 12 is not 2 + 8n")]
    public void WrongLengthForKnownKind_IsBadOption(string options, string why)
    {
        if (options.Length % 8 != 0)
        {
            options += new string('0', 8 - (options.Length % 8));
        }
        Assert.True(Parse(options, out _) == WireError.BadOption, why);
    }

    [Fact]
    public void Rfc2018_MoreThanFourSackBlocks_IsBadOption()
    {
        // Five blocks (length 42) cannot fit the 40-byte area; and the length rule refuses them even when a
        // caller walks a longer span.
        string five = "0101052a" + string.Concat(Enumerable.Repeat("0000000100000002", 5));
        var reader = new TcpOptionReader(Convert.FromHexString(five));
        Assert.True(reader.MoveNext());
        Assert.True(reader.MoveNext());
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.BadOption, reader.Error);

        var segment = Segment("0101052a" + string.Concat(Enumerable.Repeat("0000000100000002", 4)) + "00000000");
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.False(TcpRepr.TryParse(header, out _, out var error));
        Assert.Equal(WireError.BadOption, error);
    }

    [Fact]
    public void Rfc2018_FourSackBlocks_Parse()
    {
        string four = "01010522" + "0000000a00000014" + "0000001e00000028" + "0000003200000046" + "000000500000005a";
        Assert.Equal(WireError.None, Parse(four, out var repr));
        Assert.Equal(4, repr.SackBlocks.Count);
        Assert.Equal(new TcpSackBlock(80, 90), repr.SackBlocks[3]);
    }

    [Fact]
    public void Rfc9293_3_2_UnknownKinds_AreSkippedByLength()
    {
        // kind 30 (MPTCP) length 6, kind 254 (experimental) length 4, then MSS.
        Assert.Equal(WireError.None, Parse("1e06aabbccddfe04eeff020405b40000", out var repr));
        Assert.Equal((ushort)1460, repr.MaxSegmentSize);

        var reader = new TcpOptionReader(Convert.FromHexString("1e06aabbccdd020405b4"));
        Assert.True(reader.MoveNext());
        Assert.Equal(30, reader.Current.RawKind);
        Assert.Equal(new byte[] { 0xaa, 0xbb, 0xcc, 0xdd }, reader.Current.Data.ToArray());
        Assert.Equal(0, reader.Current.MaxSegmentSize);
        Assert.True(reader.MoveNext());
        Assert.Equal(TcpOptionKind.MaxSegmentSize, reader.Current.Kind);
        Assert.Equal(1460, reader.Current.MaxSegmentSize);
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);
    }

    [Fact]
    public void Rfc9293_3_2_EndOfOptionList_IgnoresWhatFollows()
    {
        // MSS, EOL, then bytes that would be malformed options.
        Assert.Equal(WireError.None, Parse("020405b40002ff01", out var repr));
        Assert.Equal((ushort)1460, repr.MaxSegmentSize);

        var reader = new TcpOptionReader(Convert.FromHexString("00020003"));
        Assert.True(reader.MoveNext());
        Assert.Equal(TcpOptionKind.EndOfOptions, reader.Current.Kind);
        Assert.False(reader.MoveNext());
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);
    }

    [Fact]
    public void NopPadding_Only_ParsesToNoOptions()
    {
        Assert.Equal(WireError.None, Parse("01010101", out var repr));
        Assert.Null(repr.MaxSegmentSize);
        Assert.Null(repr.WindowScale);
        Assert.Null(repr.Timestamps);
        Assert.False(repr.SackPermitted);
    }

    [Fact]
    public void EmptyOptionArea_WalkerYieldsNothing()
    {
        var reader = new TcpOptionReader([]);
        Assert.False(reader.MoveNext());
        Assert.Equal(WireError.None, reader.Error);
    }

    [Fact]
    public void RepeatedOption_LastOneWins()
    {
        Assert.Equal(WireError.None, Parse("020405b4020405dc", out var repr));
        Assert.Equal((ushort)1500, repr.MaxSegmentSize);
    }

    [Fact]
    public void TypedAccessors_OfAnotherKind_ReturnZero()
    {
        var reader = new TcpOptionReader(Convert.FromHexString("0402"));
        Assert.True(reader.MoveNext());
        TcpOption option = reader.Current;
        Assert.Equal(TcpOptionKind.SackPermitted, option.Kind);
        Assert.Equal(0, option.MaxSegmentSize);
        Assert.Equal(0, option.WindowScaleRaw);
        Assert.Equal(0u, option.TimestampValue);
        Assert.Equal(0u, option.TimestampEcho);
        Assert.Equal(0, option.SackBlockCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpOptionReader(Convert.FromHexString("0402")).GetSackBlockOfFirst(0));
    }
}

internal static class TcpOptionReaderTestExtensions
{
    public static TcpSackBlock GetSackBlockOfFirst(this TcpOptionReader reader, int index)
    {
        reader.MoveNext();
        return reader.Current.GetSackBlock(index);
    }
}
