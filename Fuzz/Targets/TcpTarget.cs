// TCP header view, option reader, repr parse and emit (RFC 9293 §3.1, §3.2; RFC 7323; RFC 2018).
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: the view's header length is the data offset, inside the buffer; the option walk stays in the option
/// area, yields only well-formed known options, and <c>TryParse</c> succeeds exactly when the walk is clean; the
/// emitted repr is a valid header (at most 60 bytes) that parses to the same repr, SACK blocks cut to the ones that
/// fit; a checksum written over header and payload verifies, whole or composed from a payload sum.
/// </summary>
public sealed class TcpTarget : IFuzzTarget
{
    /// <inheritdoc/>
    public string Name => "Tcp";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (!TcpHeader.TryCreate(input, out TcpHeader header, out WireError error))
        {
            Check.True(error is WireError.Truncated or WireError.BadHeaderLength, $"refusal reason {error}");
            return;
        }
        Check.True(header.HeaderLength is >= TcpHeader.MinLength and <= TcpHeader.MaxLength, "header length 20..60");
        Check.Equal(header.DataOffset * 4, header.HeaderLength, "header length = data offset");
        Check.True(header.HeaderLength <= input.Length, "header inside the buffer");
        Check.Equal(input.Length, header.Segment.Length, "segment = buffer");
        Check.Equal(input.Length - header.HeaderLength, header.Payload.Length, "payload length");
        Check.Equal(header.HeaderLength - TcpHeader.MinLength, header.Options.Length, "options length");
        Check.Equal(0, (int)header.Flags & ~0x1FF, "flags are 9 bits");

        WireError walkError = WalkOptions(header.Options);

        bool parsed = TcpRepr.TryParse(header, out TcpRepr repr, out error);
        Check.Equal(walkError == WireError.None, parsed, "TryParse succeeds exactly when the option walk is clean");
        Check.Equal(walkError, error, "TryParse error");
        if (!parsed)
        {
            Check.Equal(default, repr, "failed parse leaves a default repr");
            return;
        }
        Check.Equal(header.SourcePort, repr.SourcePort, "source port");
        Check.Equal(header.SequenceNumber, repr.SequenceNumber, "sequence number");
        Check.Equal(header.Flags, repr.Flags, "flags");
        Check.True(repr.EffectiveWindowScale is null or <= TcpOption.MaxWindowScale, "effective window scale <= 14");

        int length = repr.BufferLength;
        Check.True(length is >= TcpHeader.MinLength and <= TcpHeader.MaxLength && length % 4 == 0, "emitted header 20..60, 4-aligned");
        byte[] segment = new byte[length + header.Payload.Length];
        segment.AsSpan().Fill(0xA5);
        repr.Emit(segment);
        header.Payload.CopyTo(segment.AsSpan(length));
        Check.True(TcpHeader.TryCreate(segment, out TcpHeader again, out error), $"emitted header parses ({error})");
        Check.Equal(length, again.HeaderLength, "emitted data offset = BufferLength");
        Check.Equal(0, (int)again.Checksum, "emit leaves checksum 0");
        Check.Equal(0, again.Reserved, "emit clears reserved bits");
        Check.True(TcpRepr.TryParse(again, out TcpRepr reparsed, out error), $"emitted options parse ({error})");
        TcpRepr expected = repr;
        expected.SackBlocks = default;
        for (int i = 0; i < repr.SackBlocksToEmit; i++)
        {
            expected.SackBlocks.TryAdd(repr.SackBlocks[i]);
        }
        Check.Equal(expected, reparsed, "repr round trip (SACK blocks that fit)");

        // Checksums: whole segment, then header + separately summed payload; both verify.
        uint pseudo = HeaderSpan.FixedPseudoHeaderSum((byte)IpProtocol.Tcp, segment.Length, ipv6: (input.Length & 1) != 0);
        TcpHeader.WriteChecksum(segment, pseudo);
        ushort whole = BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(TcpHeader.ChecksumOffset));
        Check.True(TcpHeader.VerifyChecksum(segment, pseudo), "written checksum verifies");
        Check.Equal((ushort)0xFFFF, InternetChecksum.Fold(InternetChecksum.SumScalar(segment, pseudo)), "written checksum verifies (scalar)");
        TcpHeader.WriteChecksum(segment.AsSpan(0, length), pseudo, InternetChecksum.Sum(segment.AsSpan(length)));
        Check.Equal(whole, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(TcpHeader.ChecksumOffset)), "checksum composed from a payload sum = whole");
    }

    private static WireError WalkOptions(ReadOnlySpan<byte> options)
    {
        var reader = new TcpOptionReader(options);
        int consumed = 0;
        bool sawEnd = false;
        while (reader.MoveNext())
        {
            Check.True(!sawEnd, "nothing after EOL");
            TcpOption option = reader.Current;
            Check.Equal(option.RawKind, options[consumed], "option kind octet");
            int size = option.Kind is TcpOptionKind.EndOfOptions or TcpOptionKind.NoOperation ? 1 : option.Data.Length + 2;
            Check.True(consumed + size <= options.Length, "option inside the area");
            switch (option.Kind)
            {
                case TcpOptionKind.MaxSegmentSize:
                    Check.Equal(2, option.Data.Length, "MSS length");
                    _ = option.MaxSegmentSize;
                    break;
                case TcpOptionKind.WindowScale:
                    Check.Equal(1, option.Data.Length, "window scale length");
                    Check.True(option.WindowScale <= TcpOption.MaxWindowScale, "window scale clamped");
                    break;
                case TcpOptionKind.SackPermitted:
                    Check.Equal(0, option.Data.Length, "SACK-permitted length");
                    break;
                case TcpOptionKind.Sack:
                    Check.True(option.SackBlockCount is >= 1 and <= TcpSackList.Capacity, "1..4 SACK blocks");
                    Check.Equal(option.SackBlockCount * 8, option.Data.Length, "SACK length");
                    for (int i = 0; i < option.SackBlockCount; i++)
                    {
                        _ = option.GetSackBlock(i);
                    }
                    break;
                case TcpOptionKind.Timestamps:
                    Check.Equal(8, option.Data.Length, "timestamps length");
                    _ = (option.TimestampValue, option.TimestampEcho);
                    break;
                default:
                    break;
            }
            sawEnd = option.Kind == TcpOptionKind.EndOfOptions;
            consumed += size;
        }
        Check.Equal(reader.Error == WireError.None, TcpOptionReader.Validate(options, out WireError error), "Validate agrees with the walk");
        Check.Equal(reader.Error, error, "Validate error");
        Check.True(reader.Error is WireError.None or WireError.BadOption, "option errors are BadOption");
        return reader.Error;
    }
}
