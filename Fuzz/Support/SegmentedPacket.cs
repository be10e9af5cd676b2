// Builds a PacketBuffer whose bytes are split into a head and payload segments, the shape GRO and TUN readers
// produce: later pieces reference pooled chunks (AppendReference), each behind a few junk bytes so a piece can
// start at any alignment, and a piece of odd length makes the next one start in the middle of a 16-bit word.
using NetStack.Buffers;

namespace NetStack.Fuzz.Support;

/// <summary>Builds multi-segment packets over pooled memory.</summary>
public static class SegmentedPacket
{
    /// <summary>
    /// A packet holding <paramref name="bytes"/>: the first <paramref name="headLength"/> bytes in the head, the rest
    /// split at <paramref name="cuts"/> (absolute positions, ascending, each above <paramref name="headLength"/> and
    /// below the length; others are ignored) into payload segments. The caller releases the packet.
    /// </summary>
    public static PacketBuffer Build(PacketBufferPool pool, ReadOnlySpan<byte> bytes, int headLength, ReadOnlySpan<int> cuts, int sourcePadding)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfNegative(headLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(headLength, bytes.Length);
        PacketBuffer packet = pool.RentCopy(bytes[..headLength]);
        int start = headLength;
        int padding = sourcePadding & 3;
        for (int i = 0; i <= cuts.Length; i++)
        {
            int end = i < cuts.Length ? cuts[i] : bytes.Length;
            if (end <= start || end > bytes.Length)
            {
                continue;
            }
            PacketBuffer source = pool.Rent(padding + end - start, headroom: 0);
            try
            {
                Span<byte> data = source.Append(padding + end - start);
                data[..padding].Fill(0xEE);
                bytes[start..end].CopyTo(data[padding..]);
                if (!packet.AppendReference(source, padding, end - start))
                {
                    throw new FuzzInvariantException("AppendReference refused a segment below MaxPayloadSegments");
                }
            }
            finally
            {
                source.Release();
            }
            start = end;
            padding = (padding + 1) & 3;
        }
        return packet;
    }

    /// <summary>
    /// Chooses 1 to <paramref name="maxCuts"/> cut points in (<paramref name="headLength"/>, <paramref name="length"/>)
    /// from <paramref name="random"/>, ascending and distinct, favouring positions next to the head and odd ones.
    /// </summary>
    public static int[] ChooseCuts(ref InputRandom random, int headLength, int length, int maxCuts)
    {
        int room = length - headLength - 1; // positions headLength+1 .. length-1
        if (room <= 0)
        {
            return [];
        }
        int count = random.NextInclusive(1, Math.Min(maxCuts, room));
        var cuts = new SortedSet<int>();
        while (cuts.Count < count)
        {
            int cut = random.Next(4) == 0
                ? headLength + 1 + random.Next(Math.Min(room, 3))
                : headLength + 1 + random.Next(room);
            cuts.Add(cut);
        }
        return [.. cuts];
    }
}
