using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class TcpHeaderTests
{
    // A SYN captured from Linux on loopback (127.0.0.1:55070 → 127.0.0.1:9): MSS 65495, SACK-permitted,
    // timestamps, NOP, window scale 10. The checksum field holds the folded pseudo-header sum: loopback
    // sends CHECKSUM_PARTIAL.
    private static readonly byte[] LinuxSyn = Convert.FromHexString(
        "d71e000999fad90800000000a002ffd7fe3000000204ffd70402080a0952192b000000000103030a");
    private static readonly byte[] Loopback = [127, 0, 0, 1];

    // The kernel's RST|ACK answer to it (full checksum 0x67a2).
    private static readonly byte[] LinuxRst = Convert.FromHexString("0009d71e0000000099fad9095014000067a20000");

    // ACK from 10.0.0.2:80 to 10.0.0.1:43210 with NOP NOP TS(100, 200) NOP NOP SACK(3000-4000, 5000-6000),
    // checksum 0x0e50 computed independently (RFC 1071 by hand).
    private static readonly byte[] SackSegment = Convert.FromHexString(
        "0050a8ca000003e8000007d0d01001f50e5000000101080a00000064000000c80101051200000bb800000fa00000138800001770");
    private static readonly byte[] Ten0_0_2 = [10, 0, 0, 2];
    private static readonly byte[] Ten0_0_1 = [10, 0, 0, 1];

    private static uint LoopbackPseudo(int length) =>
        InternetChecksum.PseudoHeaderSumV4(Loopback, Loopback, (byte)IpProtocol.Tcp, length);

    [Fact]
    public void Rfc9293_LinuxSyn_ParsesFieldsAndOptions()
    {
        Assert.True(TcpHeader.TryCreate(LinuxSyn, out var header, out var error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(55070, header.SourcePort);
        Assert.Equal(9, header.DestinationPort);
        Assert.Equal(0x99fad908u, header.SequenceNumber);
        Assert.Equal(0u, header.AcknowledgmentNumber);
        Assert.Equal(10, header.DataOffset);
        Assert.Equal(40, header.HeaderLength);
        Assert.Equal(TcpFlags.Syn, header.Flags);
        Assert.Equal(65495, header.WindowSize);
        Assert.Equal(0xfe30, header.Checksum);
        Assert.Equal(0, header.UrgentPointer);
        Assert.Equal(20, header.Options.Length);
        Assert.True(header.Payload.IsEmpty);

        Assert.True(TcpRepr.TryParse(header, out var repr, out error));
        Assert.Equal(WireError.None, error);
        Assert.Equal((ushort)65495, repr.MaxSegmentSize);
        Assert.True(repr.SackPermitted);
        Assert.Equal(new TcpTimestamps(0x0952192b, 0), repr.Timestamps);
        Assert.Equal((byte)10, repr.WindowScale);
        Assert.Equal(0, repr.SackBlocks.Count);
    }

    [Fact]
    public void LinuxSyn_OptionWalker_YieldsKernelOrder()
    {
        Assert.True(TcpHeader.TryCreate(LinuxSyn, out var header, out _));
        var reader = header.GetOptions();
        var kinds = new List<TcpOptionKind>();
        while (reader.MoveNext())
        {
            kinds.Add(reader.Current.Kind);
        }
        Assert.Equal(WireError.None, reader.Error);
        Assert.Equal(
            [TcpOptionKind.MaxSegmentSize, TcpOptionKind.SackPermitted, TcpOptionKind.Timestamps, TcpOptionKind.NoOperation, TcpOptionKind.WindowScale],
            kinds);
    }

    [Fact]
    public void LinuxSyn_ReprEmitWithPartialChecksum_ReproducesKernelBytes()
    {
        Assert.True(TcpHeader.TryCreate(LinuxSyn, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var repr, out _));
        var buffer = new byte[repr.BufferLength];
        buffer.AsSpan().Fill(0xA5);
        repr.Emit(buffer);
        TcpHeader.WritePartialChecksum(buffer, LoopbackPseudo(buffer.Length));
        Assert.Equal(LinuxSyn, buffer);
    }

    [Fact]
    public void Design4_PartialChecksum_CompletedByDevice_EqualsFullChecksum()
    {
        // What the device does with CHECKSUM_PARTIAL: sum from csum_start to the end (the field included)
        // and store the complement.
        var segment = (byte[])LinuxSyn.Clone();
        TcpHeader.SetChecksum(segment, InternetChecksum.Finish(InternetChecksum.Sum(segment)));
        Assert.Equal(0xe356, TcpHeader.TryCreate(segment, out var header, out _) ? header.Checksum : -1);
        Assert.True(TcpHeader.VerifyChecksum(segment, LoopbackPseudo(segment.Length)));

        var full = (byte[])LinuxSyn.Clone();
        TcpHeader.WriteChecksum(full, LoopbackPseudo(full.Length));
        Assert.Equal(segment, full);
    }

    [Fact]
    public void Rfc9293_LinuxRst_ChecksumVerifies()
    {
        Assert.True(TcpHeader.TryCreate(LinuxRst, out var header, out _));
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, header.Flags);
        Assert.Equal(0x99fad909u, header.AcknowledgmentNumber);
        Assert.True(header.VerifyChecksum(LoopbackPseudo(LinuxRst.Length)));
        Assert.False(header.VerifyChecksum(LoopbackPseudo(LinuxRst.Length) + 1));
    }

    [Fact]
    public void Rfc2018_SackBlocks_ExactBytes()
    {
        var repr = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = 43210,
            SequenceNumber = 1000,
            AcknowledgmentNumber = 2000,
            Flags = TcpFlags.Ack,
            WindowSize = 501,
            Timestamps = new TcpTimestamps(100, 200),
        };
        Assert.True(repr.SackBlocks.TryAdd(new TcpSackBlock(3000, 4000)));
        Assert.True(repr.SackBlocks.TryAdd(new TcpSackBlock(5000, 6000)));
        Assert.Equal(52, repr.BufferLength);

        var buffer = new byte[repr.BufferLength];
        buffer.AsSpan().Fill(0xA5);
        repr.Emit(buffer);
        TcpHeader.WriteChecksum(buffer, InternetChecksum.PseudoHeaderSumV4(Ten0_0_2, Ten0_0_1, (byte)IpProtocol.Tcp, buffer.Length));
        Assert.Equal(SackSegment, buffer);

        Assert.True(TcpHeader.TryCreate(SackSegment, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var parsed, out _));
        Assert.Equal(repr, parsed);
        Assert.Equal(new TcpSackBlock(5000, 6000), parsed.SackBlocks[1]);
    }

    [Fact]
    public void WriteChecksum_WithSeparatePayloadSum_EqualsContiguous()
    {
        var repr = new TcpRepr { SourcePort = 1, DestinationPort = 2, Flags = TcpFlags.Ack | TcpFlags.Psh, Timestamps = new(1, 2) };
        byte[] payload = [1, 2, 3, 4, 5, 6, 7];
        var segment = new byte[repr.BufferLength + payload.Length];
        repr.Emit(segment);
        payload.CopyTo(segment, repr.BufferLength);
        uint pseudo = TestIp.PseudoV6(IpProtocol.Tcp, segment.Length);
        TcpHeader.WriteChecksum(segment, pseudo);

        var header = new byte[repr.BufferLength];
        repr.Emit(header);
        TcpHeader.WriteChecksum(header, pseudo, InternetChecksum.Sum(payload));
        Assert.Equal(segment.AsSpan(0, header.Length).ToArray(), header);
        Assert.True(TcpHeader.VerifyChecksum(segment, pseudo));
    }

    [Fact]
    public void Mutators_ChangeOnlyTheirField()
    {
        var segment = (byte[])SackSegment.Clone();
        TcpHeader.SetSequenceNumber(segment, 0xDEADBEEF);
        TcpHeader.SetFlags(segment, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin | TcpFlags.Ae);
        TcpHeader.SetChecksum(segment, 0xBEEF);
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.Equal(0xDEADBEEFu, header.SequenceNumber);
        Assert.Equal(TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin | TcpFlags.Ae, header.Flags);
        Assert.Equal(13, header.DataOffset);
        Assert.Equal(0xBEEF, header.Checksum);
        Assert.Equal(2000u, header.AcknowledgmentNumber);
        Assert.Equal(SackSegment.AsSpan(20).ToArray(), segment.AsSpan(20).ToArray());
    }

    [Fact]
    public void SetFlags_KeepsReservedBits()
    {
        var segment = (byte[])LinuxRst.Clone();
        segment[12] |= 0x0E;
        TcpHeader.SetFlags(segment, TcpFlags.Syn);
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.Equal(7, header.Reserved);
        Assert.Equal(TcpFlags.Syn, header.Flags);
        Assert.Equal(5, header.DataOffset);
    }

    [Fact]
    public void Rfc9293_ReservedBits_AreIgnoredOnReceiveAndZeroOnSend()
    {
        var segment = (byte[])LinuxRst.Clone();
        segment[12] |= 0x0E;
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var repr, out _));
        var emitted = new byte[repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(0x50, emitted[12]);
    }

    [Fact]
    public void TryCreate_ShortBuffer_IsTruncated()
    {
        Assert.False(TcpHeader.TryCreate(LinuxRst.AsSpan(0, 19), out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void TryCreate_DataOffsetBelowFive_IsBadHeaderLength(int dataOffset)
    {
        var segment = (byte[])LinuxRst.Clone();
        segment[12] = (byte)(dataOffset << 4);
        Assert.False(TcpHeader.TryCreate(segment, out _, out var error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void TryCreate_DataOffsetPastBuffer_IsBadHeaderLength()
    {
        Assert.False(TcpHeader.TryCreate(LinuxSyn.AsSpan(0, 39), out _, out var error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Payload_StartsAfterOptions()
    {
        var segment = LinuxSyn.Concat(new byte[] { 9, 8, 7 }).ToArray();
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.Equal(new byte[] { 9, 8, 7 }, header.Payload.ToArray());
        Assert.Equal(40, header.Header.Length);
        Assert.Equal(segment.Length, header.Segment.Length);
    }

    [Fact]
    public void Rfc7323_2_3_WindowScaleAbove14_IsClampedTo14()
    {
        var segment = (byte[])LinuxSyn.Clone();
        segment[39] = 15;
        Assert.True(TcpHeader.TryCreate(segment, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var repr, out _));
        Assert.Equal((byte)15, repr.WindowScale);
        Assert.Equal((byte)14, repr.EffectiveWindowScale);
        var reader = header.GetOptions();
        while (reader.MoveNext())
        {
            if (reader.Current.Kind == TcpOptionKind.WindowScale)
            {
                Assert.Equal(15, reader.Current.WindowScaleRaw);
                Assert.Equal(14, reader.Current.WindowScale);
            }
        }
    }

    [Fact]
    public void Emit_TooManySackBlocksForTheOptionArea_SendsThoseThatFit()
    {
        var repr = new TcpRepr
        {
            Flags = TcpFlags.Ack,
            MaxSegmentSize = 1460,
            WindowScale = 7,
            SackPermitted = true,
            Timestamps = new(5, 6),
        };
        for (uint i = 0; i < 4; i++)
        {
            Assert.True(repr.SackBlocks.TryAdd(new TcpSackBlock(i * 100, (i * 100) + 50)));
        }
        Assert.False(repr.SackBlocks.TryAdd(default));
        Assert.Equal(2, repr.SackBlocksToEmit);
        Assert.Equal(60, repr.BufferLength);

        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer);
        Assert.True(TcpHeader.TryCreate(buffer, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var parsed, out _));
        Assert.Equal(2, parsed.SackBlocks.Count);
        Assert.Equal(repr.SackBlocks[1], parsed.SackBlocks[1]);

        repr.Timestamps = null;
        repr.MaxSegmentSize = null;
        Assert.Equal(3, repr.SackBlocksToEmit); // NOP NOP SACK-perm, NOP WS, then 4 + 8n ≤ 32
        repr.SackPermitted = false;
        Assert.Equal(4, repr.SackBlocksToEmit);
        Assert.Equal(20 + 4 + 4 + 32, repr.BufferLength);
    }

    [Fact]
    public void Emit_NoOptions_IsTwentyBytes()
    {
        var repr = new TcpRepr { SourcePort = 9, DestinationPort = 55070, AcknowledgmentNumber = 0x99fad909, Flags = TcpFlags.Rst | TcpFlags.Ack };
        Assert.Equal(20, repr.BufferLength);
        var buffer = new byte[20];
        buffer.AsSpan().Fill(0xA5);
        repr.Emit(buffer);
        TcpHeader.WriteChecksum(buffer, LoopbackPseudo(20));
        Assert.Equal(LinuxRst, buffer);
    }

    [Fact]
    public void Emit_SackPermittedWithoutTimestamps_UsesNopNopSackPermitted()
    {
        var repr = new TcpRepr { Flags = TcpFlags.Syn, MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 7 };
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer);
        Assert.Equal(Convert.FromHexString("020405b401010402" + "01030307"), buffer.AsSpan(20).ToArray());
    }

    [Fact]
    public void Emit_TimestampsWithoutSackPermitted_UsesNopNopTimestamps()
    {
        var repr = new TcpRepr { Flags = TcpFlags.Ack, Timestamps = new(1, 2) };
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer);
        Assert.Equal(Convert.FromHexString("0101080a0000000100000002"), buffer.AsSpan(20).ToArray());
    }
}
