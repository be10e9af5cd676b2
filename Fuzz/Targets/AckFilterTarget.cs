// The TUN writer's ACK filter (RFC 3449 §5.2.1) over one write batch.
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link.Tun;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: a batch of packet records (<see cref="PacketRecord"/>: 2-byte prefix, bytes; up to 64). Invariants of
/// <c>AckFilter.Apply</c>: what it keeps is the batch in order minus the packets it removed, the slots past it are
/// cleared; it removes only pure-ACK candidates, each superseded by a later candidate of the same connection that
/// acknowledges strictly more; the last candidate of every connection and every other packet are kept; its counter
/// grows by what it removed; every buffer goes back to the pool.
/// </summary>
public sealed class AckFilterTarget : IFuzzTarget
{
    /// <summary>Most packets in one batch (the writer's batch size).</summary>
    public const int MaxBatch = 64;

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-ackfilter");
    private readonly AckFilter _filter = new();
    private readonly PacketBuffer[] _batch = new PacketBuffer[MaxBatch];
    private readonly PacketBuffer[] _original = new PacketBuffer[MaxBatch];
    private readonly bool[] _candidate = new bool[MaxBatch];
    private readonly AckFilter.FlowKey[] _keys = new AckFilter.FlowKey[MaxBatch];
    private readonly uint[] _acks = new uint[MaxBatch];

    /// <inheritdoc/>
    public string Name => "AckFilter";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var random = new InputRandom(input, salt: 11);
        var reader = new PacketRecordReader(input);
        int count = 0;
        while (count < MaxBatch && reader.TryRead(out PacketRecord record))
        {
            PacketBuffer packet = record.Rent(_pool, ref random);
            _batch[count] = _original[count] = packet;
            _candidate[count] = AckFilter.TryReadPureAck(packet, out _keys[count], out _acks[count]);
            count++;
        }
        long filteredBefore = _filter.Filtered;
        int kept = _filter.Apply(_batch.AsSpan(0, count));

        Check.True(kept >= 0 && kept <= count, "kept within the batch");
        for (int i = kept; i < count; i++)
        {
            Check.True(_batch[i] is null, "slots past the kept packets are cleared");
        }
        int next = 0;
        var keptFlags = new bool[count];
        for (int k = 0; k < kept; k++)
        {
            while (next < count && !ReferenceEquals(_original[next], _batch[k]))
            {
                next++;
            }
            Check.True(next < count, "the kept packets are the batch's, in order");
            keptFlags[next++] = true;
        }
        for (int i = 0; i < count; i++)
        {
            if (keptFlags[i])
            {
                continue;
            }
            Check.True(_candidate[i], "only pure-ACK candidates are removed");
            bool superseded = false;
            for (int j = i + 1; j < count && !superseded; j++)
            {
                superseded = _candidate[j] && _keys[j] == _keys[i] && (int)(_acks[j] - _acks[i]) > 0;
            }
            Check.True(superseded, "a removed ACK is superseded by a later one of its connection");
        }
        for (int i = 0; i < count; i++)
        {
            if (!_candidate[i])
            {
                continue;
            }
            bool last = true;
            for (int j = i + 1; j < count && last; j++)
            {
                last = !(_candidate[j] && _keys[j] == _keys[i]);
            }
            Check.True(!last || keptFlags[i], "the last ACK of a connection is kept");
        }
        Check.Equal((long)(count - kept), _filter.Filtered - filteredBefore, "the counter grows by what was removed");
        for (int k = 0; k < kept; k++)
        {
            _batch[k].Release();
            _batch[k] = null!;
        }
        Array.Clear(_original);
        Check.NoLeaks(_pool);
    }
}
