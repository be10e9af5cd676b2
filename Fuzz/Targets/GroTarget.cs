// TCP GRO over a batch of packets: RX validation, then TcpGro, then GSO split of what comes out. GRO and split
// together must give back exactly the packets that went in (ARCHITECTURE.md §4), flow by flow.
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: one configuration byte (bit 7: a flow table of 1–8 flows from bits 0–2, else 64; bit 6: a super-segment
/// limit of 128 + 256·(next byte), else 65535), then <see cref="PacketRecord"/>s; an empty record with the
/// fix-checksums bit ends a batch (<see cref="TcpGro.Flush"/>). Each packet goes through
/// <see cref="RxChecksumValidator"/> as the channel endpoint does; the ones it admits go to GRO.
/// <para>Invariants: nothing is held after the last flush; every output is alive, within the super-segment limit and
/// labelled; a coalesced output splits (GSO) into exactly <see cref="PacketBuffer.SegmentsRepresented"/> packets and
/// an uncoalesced one represents itself; the split outputs, flow by flow in order, are byte for byte the admitted
/// packets (checksum fields compared modulo the two encodings of zero); the counters add up (packets in = coalesced
/// + super-segments + singles + pass-throughs; flushes = super-segments + singles; evictions); no buffer leaks.</para>
/// </summary>
public sealed class GroTarget : IFuzzTarget
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-gro");
    private readonly List<PacketBuffer> _outputs = [];
    private readonly List<(string Key, byte[] Bytes)> _admitted = [];
    private readonly PacketBuffer[] _split = new PacketBuffer[PacketRecord.MaxLength + 1];

    /// <inheritdoc/>
    public string Name => "Gro";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        _outputs.Clear();
        _admitted.Clear();
        var reader = new PacketRecordReader(input);
        byte config = reader.NextByte();
        int maxFlows = (config & 0x80) != 0 ? 1 + (config & 7) : 64;
        int maxLength = (config & 0x40) != 0 ? Math.Min(GroOptions.MaxIpLength, 128 + (reader.NextByte() * 256)) : GroOptions.MaxIpLength;
        var gro = new TcpGro(new GroOptions { MaxFlows = maxFlows, MaxSuperSegmentLength = maxLength, Name = "fuzz" }, _outputs.Add);
        var random = new InputRandom(input, salt: 11);
        while (reader.TryRead(out PacketRecord record))
        {
            if (record.Bytes.IsEmpty && record.FixChecksums)
            {
                gro.Flush();
                continue;
            }
            PacketBuffer packet = record.Rent(_pool, ref random);
            if (RxChecksumValidator.Validate(packet, out _) == RxVerdict.Drop)
            {
                packet.Release();
                continue;
            }
            byte[] bytes = packet.ToArray();
            _admitted.Add((FlowKeys.Of(bytes), bytes));
            gro.Enqueue(packet);
        }
        gro.Flush();
        Check.Equal(0, gro.HeldFlows, "no flow held after the last flush");

        try
        {
            CheckOutputs(maxLength);
        }
        finally
        {
            foreach (PacketBuffer output in _outputs)
            {
                output.Release();
            }
        }
        CheckCounters(gro, _admitted.Count);
        Check.NoLeaks(_pool);
    }

    private void CheckOutputs(int maxLength)
    {
        var actual = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        int represented = 0;
        foreach (PacketBuffer output in _outputs)
        {
            Check.True(output.ReferenceCount >= 1, "an output is alive");
            Check.True(output.SegmentsRepresented >= 1, "SegmentsRepresented >= 1");
            represented += output.SegmentsRepresented;
            if (!output.Gso.IsGso)
            {
                Check.Equal(1, output.SegmentsRepresented, "an uncoalesced output represents itself");
                byte[] bytes = output.ToArray();
                Add(actual, bytes, bytes);
                continue;
            }
            Check.True(output.Length <= maxLength, $"a super-segment within the limit ({output.Length} > {maxLength})");
            Check.True(output.RxChecksumValidated, "a super-segment stays RX-validated");
            if (!GsoSegmenter.TrySplit(output, _pool, _split, out int count, out GsoError error))
            {
                throw new FuzzInvariantException($"a GRO super-segment does not split: {error}, {output.Gso}");
            }
            try
            {
                Check.Equal(output.SegmentsRepresented, count, "split count = SegmentsRepresented");
                for (int i = 0; i < count; i++)
                {
                    byte[] bytes = _split[i].ToArray();
                    Add(actual, bytes, FlowKeys.NormalizeChecksums(bytes));
                }
            }
            finally
            {
                for (int i = 0; i < count; i++)
                {
                    _split[i].Release();
                    _split[i] = null!;
                }
            }
        }
        Check.Equal(_admitted.Count, represented, "outputs represent every admitted packet");

        var expected = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        foreach ((string key, byte[] bytes) in _admitted)
        {
            Get(expected, key).Add(bytes);
        }
        Check.Equal(expected.Count, actual.Count, "flows out = flows in");
        foreach ((string key, List<byte[]> packets) in expected)
        {
            if (!actual.TryGetValue(key, out List<byte[]>? got))
            {
                throw new FuzzInvariantException($"flow {key} lost");
            }
            Check.Equal(packets.Count, got.Count, $"packets of flow {key}");
            for (int i = 0; i < packets.Count; i++)
            {
                byte[] want = packets[i];
                byte[] have = got[i];
                if (!want.AsSpan().SequenceEqual(have) && !FlowKeys.NormalizeChecksums(want).AsSpan().SequenceEqual(have))
                {
                    throw new FuzzInvariantException($"flow {key} packet {i}: GRO + split gave {Convert.ToHexString(have)}, in was {Convert.ToHexString(want)}");
                }
            }
        }
    }

    private static void Add(Dictionary<string, List<byte[]>> flows, byte[] keyBytes, byte[] bytes) => Get(flows, FlowKeys.Of(keyBytes)).Add(bytes);

    private static List<byte[]> Get(Dictionary<string, List<byte[]>> flows, string key)
    {
        if (!flows.TryGetValue(key, out List<byte[]>? list))
        {
            flows[key] = list = [];
        }
        return list;
    }

    private static void CheckCounters(TcpGro gro, int packetsIn)
    {
        var e = gro.Events;
        Check.Equal((long)packetsIn, e[GroEvent.PacketsIn], "PacketsIn");
        Check.Equal((long)packetsIn, e[GroEvent.PacketsCoalesced] + e[GroEvent.SuperSegmentsOut] + e[GroEvent.SinglesOut] + e[GroEvent.PassThrough],
            "in = coalesced + super-segments + singles + pass-throughs");
        Check.Equal(gro.Flushes.Total, e[GroEvent.SuperSegmentsOut] + e[GroEvent.SinglesOut], "flushes = super-segments + singles");
        Check.Equal(gro.PassThroughs.Total, e[GroEvent.PassThrough], "pass-through reasons");
        Check.Equal(gro.Flushes[GroFlushReason.Eviction], e[GroEvent.Evictions], "evictions");
    }
}
