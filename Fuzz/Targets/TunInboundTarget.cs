// The TUN read path after readv: a virtio_net_hdr and the packet as the kernel hands them over, laid out as the
// reader lays them (a small head chunk, the rest in a spill chunk by reference), through VirtioInbound, the GSO
// split the reader does, and the channel endpoint's RX validation and GRO.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Link.Tun;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: a configuration byte (bit 0: USO negotiated; bit 1: trust the kernel's NEEDS_CSUM/DATA_VALID; bit 2: split
/// TCP super-packets in software; bits 3–5: the reader's head size, 20 to 2048 bytes), then reads: a 10-byte
/// <c>virtio_net_hdr</c>, a 2-byte big-endian length (low 14 bits; bit 14 asks for the packet's checksums to be fixed
/// first) and the packet. Each read goes through <see cref="VirtioInbound.Prepare"/>; what it refuses is dropped, a
/// super-packet is split as the reader splits it (USO always, TCP in split mode), and the rest enters the channel
/// endpoint as one batch. Invariants: a super-packet that passes has a GSO header inside the packet, a positive
/// segment size and at least one segment; the endpoint counts every packet it is given; the segments delivered are
/// at most those admitted, and exactly those when RX validation dropped nothing; every delivered packet is alive,
/// labelled with its version and at most 64 KiB; without trusted checksums a delivered packet that carries no
/// partial checksum re-validates from a flat copy; nothing is held after the batch and no buffer leaks.
/// </summary>
public sealed class TunInboundTarget : IFuzzTarget
{
    /// <summary>Most reads taken from one input.</summary>
    public const int MaxReads = 32;

    private static readonly int[] HeadSizes = [20, 40, 60, 64, 128, 256, 1024, 2048];

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-tun");
    private readonly PacketBufferPool _checkPool = new(new PacketBufferPoolOptions(), "fuzz-tun-check");
    private readonly ChannelEndpoint _endpoint = new(new ChannelEndpointOptions { Name = "fuzz-tun", Gso = GsoSupport.Host });
    private readonly RecordingDispatcher _dispatcher;
    private readonly PacketBuffer[] _split = new PacketBuffer[GsoSegmenter.MaxSegmentCount];

    /// <summary>Creates the endpoint and its dispatcher (reused: the endpoint holds nothing between batches).</summary>
    public TunInboundTarget()
    {
        _dispatcher = new RecordingDispatcher(_checkPool);
        _endpoint.Attach(_dispatcher);
    }

    /// <inheritdoc/>
    public string Name => "TunInbound";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }
        byte config = input[0];
        bool acceptUso = (config & 1) != 0, trust = (config & 2) != 0, splitTcp = (config & 4) != 0;
        int headSize = HeadSizes[(config >> 3) & 7];
        input = input[1..];
        _dispatcher.Reset(validate: !trust);
        long packetsBefore = _endpoint.Events[ChannelEvent.InboundPackets];
        long dropsBefore = _endpoint.RxDrops.Total;

        int enqueued = 0;
        long segmentsEnqueued = 0;
        for (int reads = 0; reads < MaxReads && input.Length >= VirtioNetHeader.Length + 2; reads++)
        {
            Check.True(VirtioNetHeader.TryParse(input, out VirtioNetHeader header, out _), "a 10-byte virtio header parses");
            ushort prefix = BinaryPrimitives.ReadUInt16BigEndian(input[VirtioNetHeader.Length..]);
            int length = Math.Min(prefix & 0x3FFF, input.Length - VirtioNetHeader.Length - 2);
            ReadOnlySpan<byte> bytes = input.Slice(VirtioNetHeader.Length + 2, length);
            input = input[(VirtioNetHeader.Length + 2 + length)..];
            if (length == 0)
            {
                continue; // the reader counts a short read and rents nothing
            }
            PacketBuffer packet = Read((prefix & 0x4000) != 0 ? PacketChecksums.Fixed(bytes) : bytes, headSize);
            if (VirtioInbound.Prepare(packet, in header, acceptUso, trust) != TunDropReason.None)
            {
                packet.Release();
                continue;
            }
            if (packet.Gso.IsGso)
            {
                GsoOptions gso = packet.Gso;
                Check.True(gso.HeaderLength > 0 && gso.HeaderLength <= packet.Length, "a super-packet's header length lies inside it");
                Check.True(gso.MaxSegmentSize > 0, "a super-packet has a segment size");
                Check.True(packet.SegmentsRepresented >= 1, "a super-packet stands for at least one segment");
                if (gso.Type == GsoType.UdpL4 || splitTcp)
                {
                    bool trusted = packet.RxChecksumValidated;
                    bool ok = gso.Type == GsoType.UdpL4
                        ? UdpGsoSplitter.TrySplit(packet, _pool, _split, out int count)
                        : GsoSegmenter.TrySplit(packet, _pool, _split, out count, out _);
                    packet.Release();
                    if (!ok)
                    {
                        continue;
                    }
                    for (int i = 0; i < count; i++)
                    {
                        PacketBuffer segment = _split[i];
                        _split[i] = null!;
                        segment.RxChecksumValidated = trusted;
                        Enqueue(segment, ref enqueued, ref segmentsEnqueued);
                    }
                    continue;
                }
            }
            Enqueue(packet, ref enqueued, ref segmentsEnqueued);
        }
        _endpoint.FlushGro();

        Check.Equal((long)enqueued, _endpoint.Events[ChannelEvent.InboundPackets] - packetsBefore, "every packet counted as inbound");
        long drops = _endpoint.RxDrops.Total - dropsBefore;
        Check.True(_dispatcher.SegmentsDelivered <= segmentsEnqueued, "no more segments delivered than admitted");
        Check.True(drops > 0 || _dispatcher.SegmentsDelivered == segmentsEnqueued, "without RX drops every admitted segment is delivered");
        Check.True(_dispatcher.Delivered + drops <= enqueued, "deliveries and drops account for the packets");
        Check.NoLeaks(_pool);
        Check.NoLeaks(_checkPool);
    }

    private void Enqueue(PacketBuffer packet, ref int enqueued, ref long segments)
    {
        enqueued++;
        segments += Math.Max(1, packet.SegmentsRepresented);
        _endpoint.EnqueueGro(packet); // takes our reference
    }

    /// <summary>The reader's layout: up to <paramref name="headSize"/> bytes in a head chunk, the rest in a spill chunk by reference.</summary>
    private PacketBuffer Read(ReadOnlySpan<byte> bytes, int headSize)
    {
        PacketBuffer packet = _pool.Rent(headSize);
        int inHead = Math.Min(bytes.Length, headSize);
        bytes[..inHead].CopyTo(packet.Append(inHead));
        if (bytes.Length > inHead)
        {
            PacketBuffer spill = _pool.Rent(bytes.Length - inHead, headroom: 0);
            bytes[inHead..].CopyTo(spill.Append(bytes.Length - inHead));
            bool attached = packet.AppendReference(spill, 0, bytes.Length - inHead);
            spill.Release();
            Check.True(attached, "one spill chunk always attaches");
        }
        return packet;
    }

    private sealed class RecordingDispatcher(PacketBufferPool checkPool) : INetworkDispatcher
    {
        private bool _validate;

        public int Delivered { get; private set; }

        public long SegmentsDelivered { get; private set; }

        public void Reset(bool validate) => (Delivered, SegmentsDelivered, _validate) = (0, 0, validate);

        public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet)
        {
            Check.True(packet.ReferenceCount >= 1, "a delivered packet is alive");
            Check.Equal(packet.NetworkProtocol, protocol, "protocol argument = packet label");
            Check.True(packet.Length is > 0 and <= 65535 + 40, "delivered length");
            byte version = (byte)(packet.Head.Length > 0 ? packet.Head[0] >> 4 : 0);
            Check.Equal(protocol == NetworkProtocol.IPv4 ? 4 : protocol == NetworkProtocol.IPv6 ? 6 : -1, (int)version, "protocol label = version nibble");
            if (_validate && !packet.Gso.NeedsChecksum)
            {
                using PacketBuffer copy = checkPool.RentCopy(packet.ToArray());
                RxVerdict verdict = RxChecksumValidator.Validate(copy, out RxDropReason reason);
                if (verdict == RxVerdict.Drop)
                {
                    throw new FuzzInvariantException($"a delivered packet does not re-validate ({reason}): {Convert.ToHexString(packet.ToArray())}");
                }
            }
            Delivered++;
            SegmentsDelivered += Math.Max(1, packet.SegmentsRepresented);
        }
    }
}
