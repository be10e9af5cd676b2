// Seeds of the TUN targets: reads as the kernel hands them over (virtio_net_hdr + packet: plain, TCP and UDP
// super-packets with partial checksums, DATA_VALID, lying headers), and write batches for the ACK filter and UDP GRO.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Link.Tun;
using NetStack.Testing.Generators;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Fuzz.Seeds;

public static partial class SeedCorpus
{
    private static void AddTunSeeds(Action<string, string, ReadOnlySpan<byte>> add)
    {
        SegmentSpec v4 = new() { Payload = SegmentSpec.Data(100, 21) };
        SegmentSpec v6 = new() { V6 = true, Payload = SegmentSpec.Data(80, 22) };
        byte[] tcpBig4 = (v4 with { Payload = SegmentSpec.Data(3000, 23) }).Build();
        byte[] tcpBig6 = (v6 with { Payload = SegmentSpec.Data(2500, 24) }).Build();
        byte[] udpBig4 = UdpPacket(false, 2800, 0, 25);
        byte[] udpBig6 = UdpPacket(true, 2400, 0, 26);
        var none = new VirtioNetHeader();
        var dataValid = new VirtioNetHeader { Flags = VirtioNetFlags.DataValid };

        // Config: bit 0 USO, bit 1 trust, bit 2 split TCP, bits 3-5 head size (index into 20..2048).
        add("TunInbound", "plain-v4-v6-head-64", TunInput(0b011_011, (none, v4.Build()), (none, v6.Build()), (dataValid, UdpPacket(false, 60, 0, 27))));
        add("TunInbound", "tcpv4-gso-partial-trusted", TunInput(0b100_011, Super(tcpBig4, VirtioGsoType.TcpV4, 1000, 20, 16, IpProtocol.Tcp)));
        add("TunInbound", "tcpv6-gso-split-untrusted", TunInput(0b101_101, Super(tcpBig6, VirtioGsoType.TcpV6, 1200, 40, 16, IpProtocol.Tcp)));
        add("TunInbound", "udp-uso-v4-v6", TunInput(0b110_011, Super(udpBig4, VirtioGsoType.UdpL4, 1000, 20, 6, IpProtocol.Udp),
            Super(udpBig6, VirtioGsoType.UdpL4, 1200, 40, 6, IpProtocol.Udp)));
        add("TunInbound", "lying-headers", TunInput(0b000_011,
            Super(tcpBig4, VirtioGsoType.TcpV6, 1000, 20, 16, IpProtocol.Tcp),   // type does not match the version
            Super(tcpBig4, VirtioGsoType.TcpV4, 1000, 36, 16, IpProtocol.Tcp),   // csum_start off the transport header
            Super(udpBig4, VirtioGsoType.UdpL4, 1000, 20, 6, IpProtocol.Udp) with { Header = new VirtioNetHeader { GsoTypeByte = (byte)VirtioGsoType.UdpL4, GsoSize = 1000 } },
            (dataValid with { Flags = (VirtioNetFlags)0x80 }, v4.Build())));
        add("TunInbound", "gro-flow-head-20", TunInput(0b000_010,
            (none, v4.Build()), (none, v4.Next(SegmentSpec.Data(100, 28)).Build()), (none, v4.Next(SegmentSpec.Data(100, 28)).Next(SegmentSpec.Data(60, 29)).Build())));

        // ACK filter: pure ACKs of two connections (one superseded twice, a duplicate, a window update), data between.
        SegmentSpec ack = new() { Payload = [], Acknowledgment = 1000 };
        SegmentSpec other = ack with { SourcePort = 40001, V6 = true };
        add("AckFilter", "two-flows-superseded", WriteBatch(ack.Build(), (ack with { Acknowledgment = 2000 }).Build(), other.Build(),
            (ack with { Acknowledgment = 3000 }).Build(), (other with { Acknowledgment = 1500 }).Build()));
        add("AckFilter", "duplicates-and-window-updates", WriteBatch(ack.Build(), ack.Build(), (ack with { Window = 9000 }).Build(),
            (ack with { Acknowledgment = 900 }).Build(), (ack with { Acknowledgment = 1100 }).Build()));
        add("AckFilter", "not-candidates", WriteBatch((ack with { Flags = TcpFlags.Ack | TcpFlags.Psh }).Build(), (ack with { Payload = [1] }).Build(),
            (ack with { TcpOptions = [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2] }).Build(), (ack with { Acknowledgment = 5000 }).Build(),
            UdpPacket(false, 10, 0, 30)));

        // UDP GRO on write: a run of equal datagrams with consecutive IDs and a short last, a run broken by a
        // different flow, an IPv6 run, and datagrams that may not merge.
        add("UdpWriteCoalescer", "run-v4-short-last", WriteBatch(UdpPacket(false, 1000, 1, 31), UdpPacket(false, 1000, 2, 31), UdpPacket(false, 1000, 3, 31), UdpPacket(false, 300, 4, 31)));
        add("UdpWriteCoalescer", "run-v6-broken", WriteBatch(UdpPacket(true, 1200, 0, 32), UdpPacket(true, 1200, 0, 32), UdpPacket(false, 1200, 7, 32), UdpPacket(true, 1200, 0, 32)));
        add("UdpWriteCoalescer", "not-mergeable", WriteBatch(UdpPacket(false, 500, 1, 33), UdpPacket(false, 500, 9, 33), UdpPacket(false, 600, 10, 33),
            UdpPacket(false, 500, 11, 33), v4.Build(), UdpPacket(false, 0, 12, 33)));
    }

    private readonly record struct TunRead(VirtioNetHeader Header, byte[] Packet)
    {
        public static implicit operator TunRead((VirtioNetHeader Header, byte[] Packet) read) => new(read.Header, read.Packet);
    }

    private static byte[] TunInput(int config, params TunRead[] reads)
    {
        using var stream = new MemoryStream();
        stream.WriteByte((byte)config);
        Span<byte> header = stackalloc byte[VirtioNetHeader.Length];
        foreach (TunRead read in reads)
        {
            read.Header.Emit(header);
            stream.Write(header);
            stream.WriteByte((byte)(read.Packet.Length >> 8));
            stream.WriteByte((byte)read.Packet.Length);
            stream.Write(read.Packet);
        }
        return stream.ToArray();
    }

    /// <summary>A super-packet as the kernel hands it over: NEEDS_CSUM with the folded pseudo-header sum in the checksum field.</summary>
    private static TunRead Super(byte[] packet, VirtioGsoType type, ushort gsoSize, ushort checksumStart, ushort checksumOffset, IpProtocol protocol)
    {
        byte[] bytes = (byte[])packet.Clone();
        int l4 = bytes[0] >> 4 == 4 ? (bytes[0] & 0xF) * 4 : Ipv6Header.Length;
        if (l4 + checksumOffset + 2 <= bytes.Length)
        {
            uint pseudo = TransportChecksum.PseudoHeaderSum(bytes, protocol, bytes.Length - l4);
            ushort folded = InternetChecksum.Fold(pseudo);
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(l4 + (protocol == IpProtocol.Tcp ? 16 : 6)), folded);
        }
        var header = new VirtioNetHeader
        {
            Flags = VirtioNetFlags.NeedsChecksum,
            GsoTypeByte = (byte)type,
            HeaderLength = (ushort)(checksumStart + (protocol == IpProtocol.Tcp ? 32 : 8)),
            GsoSize = gsoSize,
            ChecksumStart = checksumStart,
            ChecksumOffset = checksumOffset,
        };
        return new TunRead(header, bytes);
    }

    private static byte[] WriteBatch(params byte[][] packets)
    {
        using var stream = new MemoryStream();
        foreach (byte[] packet in packets)
        {
            WriteRecord(stream, packet, segmented: false, fix: false);
        }
        return stream.ToArray();
    }

    /// <summary>A UDP datagram 10.0.0.1:40000 → 10.0.0.2:5201 (fd00::1 → fd00::2 for IPv6) with correct checksums.</summary>
    private static byte[] UdpPacket(bool v6, int payload, ushort id, int seed)
    {
        byte[] udp = new byte[UdpHeader.HeaderLength + payload];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 5201);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        SegmentSpec.Data(payload, seed).CopyTo(udp.AsSpan(UdpHeader.HeaderLength));
        byte[] packet = v6
            ? PacketGenerators.Ipv6Packet(IpProtocol.Udp, new Ipv6Repr
            {
                Source = new UInt128(0xFD00_0000_0000_0000, 1),
                Destination = new UInt128(0xFD00_0000_0000_0000, 2),
                NextHeader = IpProtocol.Udp,
                HopLimit = 64,
                FlowLabel = 0x12345,
            }, [], udp)
            : PacketGenerators.Ipv4Packet(IpProtocol.Udp, 0x0A000001, 0x0A000002, udp, identification: id);
        return PacketChecksums.Fixed(packet);
    }
}
