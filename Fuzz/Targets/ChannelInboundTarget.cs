// The channel endpoint's inbound path: a batch of packets through EnqueueGro/FlushGro to a recording dispatcher.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: a byte stream cut into a batch of packets by a 2-byte big-endian prefix per packet (low 15 bits: length,
/// clamped to what is left; top bit: build the packet as a head plus payload segments). Invariants: every packet
/// RX validation drops on its own is counted as a drop, every other one is delivered (alone or coalesced: the
/// delivered packets stand for exactly the admitted ones); every delivered packet is alive, at most 64 KiB, labelled
/// with its IP version, and re-validates from a flat copy (as Validated when it was marked so); the endpoint keeps
/// nothing after <c>FlushGro</c> and every buffer goes back to the pool.
/// </summary>
public sealed class ChannelInboundTarget : IFuzzTarget
{
    /// <summary>Most packets taken from one input.</summary>
    public const int MaxBatch = 64;

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-channel");
    private readonly PacketBufferPool _checkPool = new(new PacketBufferPoolOptions(), "fuzz-channel-check");
    private readonly ChannelEndpoint _endpoint = new(new ChannelEndpointOptions { Name = "fuzz" });
    private readonly RecordingDispatcher _dispatcher;

    /// <summary>Creates the endpoint and its dispatcher (reused across inputs: the endpoint holds no state between batches).</summary>
    public ChannelInboundTarget()
    {
        _dispatcher = new RecordingDispatcher(_checkPool);
        _endpoint.Attach(_dispatcher);
    }

    /// <inheritdoc/>
    public string Name => "ChannelInbound";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        long packetsBefore = _endpoint.Events[ChannelEvent.InboundPackets];
        long dropsBefore = _endpoint.RxDrops.Total;
        _dispatcher.Reset();

        int count = 0;
        int expectedDrops = 0;
        var random = new InputRandom(input, salt: 3);
        while (input.Length >= 2 && count < MaxBatch)
        {
            ushort prefix = BinaryPrimitives.ReadUInt16BigEndian(input);
            int length = Math.Min(prefix & 0x7FFF, input.Length - 2);
            ReadOnlySpan<byte> bytes = input.Slice(2, length);
            input = input[(2 + length)..];
            count++;

            if (WouldDrop(bytes))
            {
                expectedDrops++;
            }
            PacketBuffer packet;
            if ((prefix & 0x8000) != 0)
            {
                int head = HeaderSpan.Of(bytes);
                packet = SegmentedPacket.Build(_pool, bytes, head, SegmentedPacket.ChooseCuts(ref random, head, bytes.Length, maxCuts: 3), random.Next(4));
            }
            else
            {
                packet = _pool.RentCopy(bytes);
            }
            _endpoint.EnqueueGro(packet); // takes our reference
        }
        _endpoint.FlushGro();

        Check.Equal((long)count, _endpoint.Events[ChannelEvent.InboundPackets] - packetsBefore, "every packet counted as inbound");
        Check.Equal((long)expectedDrops, _endpoint.RxDrops.Total - dropsBefore, "drops = packets RX validation refuses on their own");
        Check.Equal(count - expectedDrops, _dispatcher.SegmentsDelivered, "delivered packets stand for every admitted packet");
        Check.True(_dispatcher.Delivered <= count - expectedDrops, "no more deliveries than admitted packets");
        Check.NoLeaks(_pool);
        Check.NoLeaks(_checkPool);
    }

    private bool WouldDrop(ReadOnlySpan<byte> bytes)
    {
        using PacketBuffer copy = _checkPool.RentCopy(bytes);
        return RxChecksumValidator.Validate(copy, out _) == RxVerdict.Drop;
    }

    private sealed class RecordingDispatcher(PacketBufferPool checkPool) : INetworkDispatcher
    {
        public int Delivered { get; private set; }

        public int SegmentsDelivered { get; private set; }

        public void Reset() => (Delivered, SegmentsDelivered) = (0, 0);

        public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet)
        {
            Check.True(packet.ReferenceCount >= 1, "a delivered packet is alive");
            Check.Equal(packet.NetworkProtocol, protocol, "protocol argument = packet label");
            Check.True(packet.Length is > 0 and <= 65535 + 40, "delivered length");
            Check.True(packet.SegmentsRepresented >= 1, "SegmentsRepresented >= 1");
            byte version = (byte)(packet.Head.Length > 0 ? packet.Head[0] >> 4 : 0);
            Check.Equal(protocol == NetworkProtocol.IPv4 ? 4 : protocol == NetworkProtocol.IPv6 ? 6 : -1, (int)version, "protocol label = version nibble");
            bool markedValidated = packet.RxChecksumValidated;
            using (PacketBuffer copy = checkPool.RentCopy(packet.ToArray()))
            {
                RxVerdict verdict = RxChecksumValidator.Validate(copy, out RxDropReason reason);
                if (verdict == RxVerdict.Drop)
                {
                    throw new FuzzInvariantException($"a delivered packet does not re-validate ({reason}): {Convert.ToHexString(packet.ToArray())}");
                }
                Check.True(!markedValidated || verdict == RxVerdict.Validated, "a packet marked validated re-validates as Validated");
            }
            Delivered++;
            SegmentsDelivered += packet.SegmentsRepresented;
        }
    }
}
