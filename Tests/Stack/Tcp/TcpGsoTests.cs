using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// TCP over a GSO link (ARCHITECTURE.md §2 outbound step 2, §4): super-segments out with GsoOptions and a partial
/// checksum, equal byte for byte to what TCP sends without GSO once split; coalesced segments in, ACKed as the
/// wire segments they stand for.
/// </summary>
public class TcpGsoTests
{
    private static TcpRepr PeerTs(uint seq, uint ack, TcpFlags flags, uint tsval = 200, ushort window = 65535) =>
        TcpTestHarness.Peer(seq, ack, flags, window: window) with { Timestamps = new TcpTimestamps(tsval, 0) };

    /// <summary>
    /// What the stack sends in one send opportunity for <paramref name="bytes"/> on a connection whose congestion
    /// window was first opened past them (so neither window limits it), as wire segments: super-segments split.
    /// </summary>
    private static List<byte[]> SendAndCollect(GsoSupport gso, int bytes)
    {
        using var h = new TcpTestHarness(gso: gso);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        var packets = new List<byte[]>();
        using (l)
        {
            uint tsval = 300;
            for (int round = 0; c.GetStatistics().CongestionWindow < bytes + 65536; round++)
            {
                Assert.True(round < 100, $"the congestion window did not open: {c.GetStatistics()}");
                c.TryWrite(Packets.Payload(c.Options.SendBufferSize, (int)tsval)); // more than cwnd: the window limits, so it grows
                while (h.Link.Read() is PacketBuffer p)
                {
                    uint end = BinaryPrimitives.ReadUInt32BigEndian(p.Head[24..]) + (uint)(p.Length - 52);
                    p.Release();
                    h.Inject(PeerTs(1001, end, TcpFlags.Ack, tsval: tsval++)); // one ACK per packet
                }
            }
            while (c.GetStatistics().SendQueued > 0)
            {
                uint end = 0;
                while (h.Link.Read() is PacketBuffer p)
                {
                    end = BinaryPrimitives.ReadUInt32BigEndian(p.Head[24..]) + (uint)(p.Length - 52);
                    p.Release();
                }
                h.Inject(PeerTs(1001, end, TcpFlags.Ack, tsval: tsval++));
            }
            Assert.Equal(bytes, c.TryWrite(Packets.Payload(bytes, 9)));
            while (h.Link.Read() is PacketBuffer p)
            {
                if (!p.Gso.IsGso)
                {
                    packets.Add(p.ToArray());
                }
                else
                {
                    var split = new PacketBuffer[64];
                    Assert.True(GsoSegmenter.TrySplit(p, h.Pool.Pool, split, out int count, out _));
                    for (int i = 0; i < count; i++)
                    {
                        packets.Add(split[i].ToArray());
                        split[i].Release();
                    }
                }
                p.Release();
            }
            c.Abort();
            h.Link.Drain();
        }
        return packets;
    }

    /// <summary>
    /// A copy with what depends on the warm-up zeroed: the IPv4 identification and header checksum, the TCP
    /// checksum, the timestamp echo (the warm-up's last ACK), and the sequence number made relative to
    /// <paramref name="firstSeq"/>. Identification, checksums and sequence numbers are checked separately.
    /// </summary>
    private static byte[] Normalized(byte[] packet, uint firstSeq)
    {
        byte[] copy = (byte[])packet.Clone();
        copy.AsSpan(4, 2).Clear();
        copy.AsSpan(10, 2).Clear();
        copy.AsSpan(20 + 16, 2).Clear();
        copy.AsSpan(20 + 20 + 8, 4).Clear(); // NOP NOP TS(10): TSecr
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(24), BinaryPrimitives.ReadUInt32BigEndian(copy.AsSpan(24)) - firstSeq);
        return copy;
    }

    private static uint Seq(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(24));

    [Fact]
    public void Super_Segment_Carries_Gso_Options_And_A_Partial_Checksum()
    {
        using var h = new TcpTestHarness(gso: GsoSupport.Host);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            Assert.Equal(14480, c.TryWrite(Packets.Payload(14480))); // the initial window: 10 segments
            PacketBuffer? p = h.Link.Read();
            Assert.NotNull(p);
            Assert.Null(h.Link.Read()); // one packet for the whole send opportunity
            Assert.True(p!.Gso.IsGso);
            Assert.Equal(GsoType.TcpV4, p.Gso.Type);
            Assert.True(p.Gso.NeedsChecksum);
            Assert.Equal((ushort)1448, p.Gso.MaxSegmentSize);
            Assert.Equal((ushort)(20 + 32), p.Gso.HeaderLength);
            Assert.Equal((ushort)20, p.Gso.ChecksumStart);
            Assert.Equal((ushort)16, p.Gso.ChecksumOffset);
            Assert.Equal(10, p.SegmentsRepresented);
            byte[] bytes = p.ToArray();
            Assert.Equal(20 + 32 + 14480, bytes.Length);
            Assert.Equal(bytes.Length, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(2))); // IPv4 total length of the super-segment
            Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header ip, out _) && ip.VerifyChecksum());
            uint pseudo = InternetChecksum.PseudoHeaderSumV4(bytes.AsSpan(12, 4), bytes.AsSpan(16, 4), 6, bytes.Length - 20);
            Assert.Equal(InternetChecksum.Fold(pseudo), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(20 + 16))); // CHECKSUM_PARTIAL
            Assert.Equal(10, c.GetStatistics().SegmentsSent - 1); // the SYN-ACK, then ten wire segments
            Assert.Equal(1, h.Tcp.Events[TcpEvent.SuperSegmentsSent]);
            p.Release();
            c.Abort();
            h.Link.Drain();
        }
    }

    /// <summary>
    /// On a link that finishes checksums (a TUN device with a virtio header: NEEDS_CSUM) a single data segment
    /// leaves with the pseudo-header sum in its checksum field and the offsets past the IP header, no GSO type, and
    /// completes to the checksum TCP would have written; a pure ACK is finished in software.
    /// </summary>
    [Fact]
    public void TxChecksumOffload_SingleSegment_LeavesThePartialChecksumToTheLink()
    {
        using var h = new TcpTestHarness(txChecksumOffload: true);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            Assert.Equal(1000, c.TryWrite(Packets.Payload(1000)));
            PacketBuffer? p = h.Link.Read();
            Assert.NotNull(p);
            Assert.False(p!.Gso.IsGso);
            Assert.True(p.Gso.NeedsChecksum);
            Assert.Equal((ushort)20, p.Gso.ChecksumStart);
            Assert.Equal((ushort)16, p.Gso.ChecksumOffset);
            Assert.Equal((ushort)(20 + 32), p.Gso.HeaderLength);
            byte[] bytes = p.ToArray();
            p.Release();
            Assert.Equal(20 + 32 + 1000, bytes.Length);
            uint pseudo = InternetChecksum.PseudoHeaderSumV4(bytes.AsSpan(12, 4), bytes.AsSpan(16, 4), 6, bytes.Length - 20);
            Assert.Equal(InternetChecksum.Fold(pseudo), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(20 + 16))); // CHECKSUM_PARTIAL
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(20 + 16), InternetChecksum.Finish(InternetChecksum.Sum(bytes.AsSpan(20))));
            Assert.True(TcpHeader.VerifyChecksum(bytes.AsSpan(20), pseudo)); // what the device completes is right

            h.Inject(PeerTs(1001, iss + 1 + 1000, TcpFlags.Ack | TcpFlags.Psh), Packets.Payload(10));
            h.Advance(TimeSpan.FromMilliseconds(500)); // past the delayed-ACK timer
            PacketBuffer? ack = h.Link.Read(); // a pure ACK of those 10 bytes
            Assert.NotNull(ack);
            Assert.False(ack!.Gso.NeedsChecksum);
            byte[] ackBytes = ack.ToArray();
            ack.Release();
            Assert.Equal(20 + 32, ackBytes.Length);
            uint ackPseudo = InternetChecksum.PseudoHeaderSumV4(ackBytes.AsSpan(12, 4), ackBytes.AsSpan(16, 4), 6, ackBytes.Length - 20);
            Assert.True(TcpHeader.VerifyChecksum(ackBytes.AsSpan(20), ackPseudo));
            c.Abort();
            h.Link.Drain();
        }
    }

    [Theory]
    [InlineData(1448 * 40)]
    [InlineData((1448 * 40) + 700)]  // ends in a short segment
    [InlineData((1448 * 90) + 1)]    // more than one super-segment
    public void Split_Super_Segments_Equal_The_Segments_Sent_Without_Gso(int bytes)
    {
        List<byte[]> plain = SendAndCollect(GsoSupport.None, bytes);
        List<byte[]> split = SendAndCollect(GsoSupport.Host, bytes);
        Assert.Equal(plain.Count, split.Count);
        for (int i = 0; i < plain.Count; i++)
        {
            Assert.Equal(Normalized(plain[i], Seq(plain[0])), Normalized(split[i], Seq(split[0])));
            Assert.True(Ipv4Header.TryCreate(split[i], out Ipv4Header ip, out _) && ip.VerifyChecksum());
            uint pseudo = InternetChecksum.PseudoHeaderSumV4(split[i].AsSpan(12, 4), split[i].AsSpan(16, 4), 6, split[i].Length - 20);
            Assert.True(TcpHeader.VerifyChecksum(split[i].AsSpan(20), pseudo));
            if (i > 0)
            {
                Assert.Equal(Seq(split[i - 1]) + (uint)(split[i - 1].Length - 52), Seq(split[i]));
                Assert.Equal((ushort)(BinaryPrimitives.ReadUInt16BigEndian(split[i - 1].AsSpan(4)) + 1), BinaryPrimitives.ReadUInt16BigEndian(split[i].AsSpan(4)));
            }
        }
    }

    [Fact]
    public void Window_Limited_Super_Segment_Holds_Whole_Segments_Only()
    {
        using var h = new TcpTestHarness(gso: GsoSupport.Host);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 2500)); // 10000 bytes with scale 2
            Assert.Equal(20000, c.TryWrite(Packets.Payload(20000)));
            PacketBuffer p = h.Link.Read()!;
            Assert.Equal(6 * 1448, p.Length - 52); // 8688 of the 10000-byte window: whole segments
            Assert.Null(h.Link.Read()); // the 1312 left wait (SWS avoidance)
            p.Release();
            c.Abort();
            h.Link.Drain();
        }
    }

    [Fact]
    public void Coalesced_Inbound_Segment_Is_Acked_At_Once_As_Many_Segments()
    {
        using var h = new TcpTestHarness(gso: GsoSupport.Host);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            // One segment that stands for 8 wire segments of 1448 bytes (as GRO hands it over).
            byte[] payload = Packets.Payload(8 * 1448, 4);
            PacketBuffer packet = h.Pool.Pool.RentCopy(Packets.Ipv4Tcp(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh, tsval: 300), payload, src: Packets.V4A, dst: Packets.V4B));
            packet.NetworkProtocol = NetworkProtocol.IPv4;
            packet.Gso = new GsoOptions { Type = GsoType.TcpV4, NeedsChecksum = false, MaxSegmentSize = 1448, HeaderLength = 52, ChecksumStart = 20, ChecksumOffset = 16 };
            packet.SegmentsRepresented = 8;
            h.Link.InjectInbound(packet);
            Segment ack = h.Read(); // no delayed ACK: it was eight full-sized segments
            Assert.Equal(1001u + (uint)payload.Length, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.CoalescedSegmentsReceived]);
            // A following single full segment is not "two segments" yet: the peer's MSS was learned as 1448, not 11584.
            h.Inject(PeerTs(1001 + (uint)payload.Length, iss + 1, TcpFlags.Ack, tsval: 301), Packets.Payload(1448, 5));
            h.ExpectNone();
            h.Inject(PeerTs(1001 + (uint)payload.Length + 1448, iss + 1, TcpFlags.Ack, tsval: 302), Packets.Payload(1448, 6));
            Assert.Equal(1001u + (uint)payload.Length + 2896, h.Read().Tcp.AcknowledgmentNumber);
            var buffer = new byte[20000];
            Assert.Equal(payload.Length + 2896, c.TryRead(buffer));
            Assert.Equal(payload, buffer[..payload.Length]);
            c.Abort();
        }
    }

    [Fact]
    public void A_Full_Link_Queue_Pushes_Back_Instead_Of_Losing_Segments()
    {
        using var h = new TcpTestHarness(linkQueue: 4);
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            // Open the window wide so that only the link's four-packet queue limits what TCP hands it.
            h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack, window: 65535) with { Timestamps = new TcpTimestamps(300, 0) });
            byte[] data = Support.Packets.Payload(100 * 1448, 3);
            Assert.Equal(data.Length, c.TryWrite(data));
            var received = new List<byte>();
            uint expected = iss + 1, tsval = 301;
            for (int round = 0; round < 1000 && received.Count < data.Length; round++)
            {
                PacketBuffer? p = h.Link.Read();
                if (p is null)
                {
                    h.Advance(TimeSpan.FromMilliseconds(1)); // the link-retry timer (the ACKs below usually resume it first)
                    continue;
                }
                byte[] bytes = p.ToArray();
                p.Release();
                uint seq = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(24));
                int payload = bytes.Length - 52;
                if (payload > 0 && seq == expected)
                {
                    received.AddRange(bytes.AsSpan(52).ToArray());
                    expected += (uint)payload;
                }
                h.Inject(TcpTestHarness.Peer(1001, expected, TcpFlags.Ack, window: 65535) with { Timestamps = new TcpTimestamps(tsval++, 0) });
            }
            Assert.Equal(data, received.ToArray());
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.True(h.Tcp.Events[TcpEvent.LinkQueueWaits] > 0);  // the queue did fill: TCP waited for room
            Assert.Equal(0, h.Tcp.Events[TcpEvent.LinkQueueFull]);   // and never had a segment refused
            Assert.Equal(0, stats.Timeouts);                     // yet nothing waited for an RTO
            Assert.Equal(0, stats.FastRetransmits);              // and no congestion was signalled
            c.Abort();
            h.Link.Drain();
        }
    }
}
