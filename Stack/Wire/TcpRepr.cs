// TCP header representation (RFC 9293 §3.1) with the options this stack supports (RFC 9293 §3.2,
// RFC 7323, RFC 2018), and its emitter.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// The TCP header fields and options the stack supports. <see cref="TryParse"/> reads a
/// <see cref="TcpHeader"/> and walks its options (failing with <see cref="WireError.BadOption"/> on a
/// malformed one; unknown kinds are skipped); <see cref="Emit"/> writes the header with options in the order
/// Linux uses (MSS; SACK-permitted + timestamps, or NOP NOP timestamps, or NOP NOP SACK-permitted; NOP window
/// scale; NOP NOP SACK blocks), every option group already 4-byte aligned. The payload is not part of the
/// repr: it stays in the view (<see cref="TcpHeader.Payload"/>) or in the caller's buffers.
/// </summary>
public record struct TcpRepr
{
    /// <summary>Source port.</summary>
    public ushort SourcePort;
    /// <summary>Destination port.</summary>
    public ushort DestinationPort;
    /// <summary>Sequence number.</summary>
    public uint SequenceNumber;
    /// <summary>Acknowledgment number.</summary>
    public uint AcknowledgmentNumber;
    /// <summary>Control bits (the reserved bits are not kept and emit as zero).</summary>
    public TcpFlags Flags;
    /// <summary>Window field, unscaled.</summary>
    public ushort WindowSize;
    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer;
    /// <summary>MSS option value (RFC 9293 §3.7.1), or null when absent.</summary>
    public ushort? MaxSegmentSize;
    /// <summary>Window-scale shift count as received or to send (may exceed 14 on receive), or null when absent.</summary>
    public byte? WindowScale;
    /// <summary>SACK-permitted option present (RFC 2018 §2).</summary>
    public bool SackPermitted;
    /// <summary>SACK blocks (RFC 2018 §3); emit sends as many as fit in the option area, in order.</summary>
    public TcpSackList SackBlocks;
    /// <summary>Timestamps option (RFC 7323 §3.2), or null when absent.</summary>
    public TcpTimestamps? Timestamps;

    private const int MaxOptionLength = TcpHeader.MaxLength - TcpHeader.MinLength;

    /// <summary>The window-scale shift count to use: <see cref="WindowScale"/> clamped to 14 (RFC 7323 §2.3).</summary>
    public readonly byte? EffectiveWindowScale => WindowScale is byte ws ? Math.Min(ws, TcpOption.MaxWindowScale) : null;

    /// <summary>
    /// Reads the fields and options of <paramref name="header"/>. Fails with <see cref="WireError.BadOption"/>
    /// on a malformed option (see <see cref="TcpOptionReader"/>); the segment should then be dropped. When an
    /// option kind repeats, the last one wins.
    /// </summary>
    public static bool TryParse(in TcpHeader header, out TcpRepr repr, out WireError error)
    {
        repr = new TcpRepr
        {
            SourcePort = header.SourcePort,
            DestinationPort = header.DestinationPort,
            SequenceNumber = header.SequenceNumber,
            AcknowledgmentNumber = header.AcknowledgmentNumber,
            Flags = header.Flags,
            WindowSize = header.WindowSize,
            UrgentPointer = header.UrgentPointer,
        };
        var reader = header.GetOptions();
        while (reader.MoveNext())
        {
            TcpOption option = reader.Current;
            switch (option.Kind)
            {
                case TcpOptionKind.MaxSegmentSize:
                    repr.MaxSegmentSize = option.MaxSegmentSize;
                    break;
                case TcpOptionKind.WindowScale:
                    repr.WindowScale = option.WindowScaleRaw;
                    break;
                case TcpOptionKind.SackPermitted:
                    repr.SackPermitted = true;
                    break;
                case TcpOptionKind.Sack:
                    repr.SackBlocks.Clear();
                    for (int i = 0; i < option.SackBlockCount; i++)
                    {
                        repr.SackBlocks.TryAdd(option.GetSackBlock(i));
                    }
                    break;
                case TcpOptionKind.Timestamps:
                    repr.Timestamps = new TcpTimestamps(option.TimestampValue, option.TimestampEcho);
                    break;
                default:
                    break; // EOL, NOP and unknown kinds (RFC 9293 §3.2: skip by length)
            }
        }
        error = reader.Error;
        if (error != WireError.None)
        {
            repr = default;
            return false;
        }
        return true;
    }

    /// <summary>Length of the option area <see cref="Emit"/> writes (a multiple of 4, at most 40).</summary>
    public readonly int OptionsLength => OptionsLengthWithoutSack + (SackBlocksToEmit > 0 ? 4 + (8 * SackBlocksToEmit) : 0);

    /// <summary>Header bytes <see cref="Emit"/> writes: 20 plus <see cref="OptionsLength"/>.</summary>
    public readonly int BufferLength => TcpHeader.MinLength + OptionsLength;

    /// <summary>
    /// How many of <see cref="SackBlocks"/> fit after the other options (as Linux does, the rest are left
    /// out so the header never exceeds 60 bytes).
    /// </summary>
    public readonly int SackBlocksToEmit => Math.Min(SackBlocks.Count, Math.Max(0, (MaxOptionLength - OptionsLengthWithoutSack - 4) / 8));

    private readonly int OptionsLengthWithoutSack =>
        (MaxSegmentSize.HasValue ? 4 : 0)
        + (Timestamps.HasValue ? 12 : SackPermitted ? 4 : 0)
        + (WindowScale.HasValue ? 4 : 0);

    /// <summary>
    /// Writes the header into the first <see cref="BufferLength"/> bytes of <paramref name="buffer"/> with
    /// checksum 0; complete it with <see cref="TcpHeader.WriteChecksum(Span{byte}, uint)"/> or its variants.
    /// </summary>
    public readonly void Emit(Span<byte> buffer)
    {
        int length = BufferLength;
        Span<byte> header = buffer[..length];
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.SourcePortOffset..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.DestinationPortOffset..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(header[TcpHeader.SequenceOffset..], SequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(header[TcpHeader.AcknowledgmentOffset..], AcknowledgmentNumber);
        ushort offsetAndFlags = (ushort)(((length / 4) << 12) | ((ushort)Flags & TcpHeader.FlagsMask));
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.DataOffsetAndFlagsOffset..], offsetAndFlags);
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.WindowOffset..], WindowSize);
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(header[TcpHeader.UrgentPointerOffset..], UrgentPointer);

        Span<byte> o = header[TcpHeader.MinLength..];
        int p = 0;
        if (MaxSegmentSize is ushort mss)
        {
            o[p] = (byte)TcpOptionKind.MaxSegmentSize;
            o[p + 1] = TcpOption.MaxSegmentSizeLength;
            BinaryPrimitives.WriteUInt16BigEndian(o[(p + 2)..], mss);
            p += TcpOption.MaxSegmentSizeLength;
        }
        if (Timestamps is TcpTimestamps ts)
        {
            if (SackPermitted)
            {
                o[p] = (byte)TcpOptionKind.SackPermitted;
                o[p + 1] = TcpOption.SackPermittedLength;
            }
            else
            {
                o[p] = (byte)TcpOptionKind.NoOperation;
                o[p + 1] = (byte)TcpOptionKind.NoOperation;
            }
            o[p + 2] = (byte)TcpOptionKind.Timestamps;
            o[p + 3] = TcpOption.TimestampsLength;
            BinaryPrimitives.WriteUInt32BigEndian(o[(p + 4)..], ts.Value);
            BinaryPrimitives.WriteUInt32BigEndian(o[(p + 8)..], ts.Echo);
            p += 12;
        }
        else if (SackPermitted)
        {
            o[p] = (byte)TcpOptionKind.NoOperation;
            o[p + 1] = (byte)TcpOptionKind.NoOperation;
            o[p + 2] = (byte)TcpOptionKind.SackPermitted;
            o[p + 3] = TcpOption.SackPermittedLength;
            p += 4;
        }
        if (WindowScale is byte ws)
        {
            o[p] = (byte)TcpOptionKind.NoOperation;
            o[p + 1] = (byte)TcpOptionKind.WindowScale;
            o[p + 2] = TcpOption.WindowScaleLength;
            o[p + 3] = ws;
            p += 4;
        }
        int blocks = SackBlocksToEmit;
        if (blocks > 0)
        {
            o[p] = (byte)TcpOptionKind.NoOperation;
            o[p + 1] = (byte)TcpOptionKind.NoOperation;
            o[p + 2] = (byte)TcpOptionKind.Sack;
            o[p + 3] = (byte)(2 + (TcpOption.SackBlockLength * blocks));
            p += 4;
            for (int i = 0; i < blocks; i++)
            {
                TcpSackBlock block = SackBlocks[i];
                BinaryPrimitives.WriteUInt32BigEndian(o[p..], block.Left);
                BinaryPrimitives.WriteUInt32BigEndian(o[(p + 4)..], block.Right);
                p += TcpOption.SackBlockLength;
            }
        }
    }
}
