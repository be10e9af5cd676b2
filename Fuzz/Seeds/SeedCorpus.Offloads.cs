// Seeds for the GRO, GSO-split and reassembly targets: coalescable flows and super-segments built with the
// NetStack.Testing builders (through a PcapWriter capture like every other seed), and scripts of fragments.
using System.Buffers.Binary;
using NetStack.Fuzz.Support;
using NetStack.Testing;
using NetStack.Testing.Generators;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Fuzz.Seeds;

public static partial class SeedCorpus
{
    private static void AddOffloadSeeds(Action<string, string, ReadOnlySpan<byte>> add)
    {
        SegmentSpec v4 = new() { Payload = SegmentSpec.Data(100, 1) };
        SegmentSpec v6 = new() { V6 = true, Extensions = [SegmentSpec.DestinationOptions(3)], Payload = SegmentSpec.Data(100, 2) };
        SegmentSpec v4Plain = v4 with { TcpOptions = [], Identification = 65534 };

        // GRO: whole flows, interleavings, batch ends, small tables, size limits, flags that flush, other traffic.
        add("Gro", "flow-v4-8", GroInput(0x00, [], Flow(v4, 8, lastFlags: TcpFlags.Psh)));
        add("Gro", "flow-v6-ext-6", GroInput(0x00, [], Flow(v6, 6, lastFlags: TcpFlags.None)));
        add("Gro", "flow-v4-id-wrap", GroInput(0x00, [], Flow(v4Plain, 5, lastFlags: TcpFlags.Fin)));
        List<byte[]> a = Flow(v4, 4, TcpFlags.None), b = Flow(v4 with { SourcePort = 40001, Sequence = 9 }, 4, TcpFlags.None);
        List<byte[]> c = Flow(v6 with { SourcePort = 1 }, 4, TcpFlags.None);
        add("Gro", "three-flows-interleaved", GroInput(0x00, [], Interleave(a, b, c)));
        add("Gro", "evict-table-of-2", GroInput(0x81, [], Interleave(a, b, c)));
        add("Gro", "batch-ends", GroInput(0x00, [], [.. a[..2], [], .. a[2..], [], .. b]));
        add("Gro", "super-segment-limit-384", GroInput(0x40, [1], Flow(v4, 8, TcpFlags.None)));
        byte[] udp = PacketGenerators.Ipv4Packet(IpProtocol.Udp, 0x0A000001, 0x0A000002, new byte[40]);
        byte[][] frags = FragmentGenerators.Ipv4Fragments(Flow(v4, 1, TcpFlags.None)[0], [64]);
        add("Gro", "mixed-traffic", GroInput(0x00, [],
            [a[0], a[1], udp, (v4.Next(SegmentSpec.Data(100, 3)) with { Flags = TcpFlags.Ack | TcpFlags.Syn }).Build(), frags[0], a[2],
             (v4 with { Payload = [] }).Build(), frags[1], a[3]]));
        byte[] gap = (byte[])a[1].Clone();
        gap[20 + 7] ^= 1; // sequence number changed after the checksum: the fix-checksums bit makes it valid again
        add("Gro", "mutated-fixed-checksums", GroInput(0x00, [], [a[0], a[1], gap, a[2]], fix: true));

        // GSO split: super-segments over IPv4/IPv6, partial checksum, segmented, odd MSS, flags, refusals.
        SegmentSpec big4 = new() { Payload = SegmentSpec.Data(2500, 5), Flags = TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin | TcpFlags.Cwr };
        SegmentSpec big6 = new() { V6 = true, Extensions = [SegmentSpec.DestinationOptions(7)], Payload = SegmentSpec.Data(2000, 6) };
        add("GsoSplit", "tcpv4-mss-1000-partial", GsoInput(GsoType.TcpV4, 1000, 0b0_1001, 0, big4.Build()));
        add("GsoSplit", "tcpv4-mss-536-segmented", GsoInput(GsoType.TcpV4, 536, 0b0_0011, 0, big4.Build()));
        add("GsoSplit", "tcpv6-ext-mss-700", GsoInput(GsoType.TcpV6, 700, 0b1_1001, 48, big6.Build()));
        add("GsoSplit", "tcpv4-mss-7-small", GsoInput(GsoType.TcpV4, 7, 0b0_0000, 0, (big4 with { Payload = SegmentSpec.Data(50, 7) }).Build()));
        add("GsoSplit", "tcpv4-mss-above-payload", GsoInput(GsoType.TcpV4, 4000, 0b0_0001, 0, big4.Build()));
        add("GsoSplit", "tcpv4-options-ip", GsoInput(GsoType.TcpV4, 300, 0b0_0101, 0, (big4 with { Ipv4Options = [1, 1, 1, 0], Payload = SegmentSpec.Data(900, 8) }).Build()));
        add("GsoSplit", "type-mismatch", GsoInput(GsoType.TcpV6, 1000, 0, 0, big4.Build()));
        add("GsoSplit", "udp-l4-unsupported", GsoInput(GsoType.UdpL4, 1000, 0, 0, udp));
        add("GsoSplit", "no-gso", GsoInput(GsoType.None, 0, 0, 0, v4.Build()));
        add("GsoSplit", "zero-payload", GsoInput(GsoType.TcpV4, 100, 0b0_0001, 0, (v4 with { Payload = [] }).Build()));
    }

    private static void AddReassemblySeeds(Action<string, string, ReadOnlySpan<byte>> add)
    {
        foreach (string target in (ReadOnlySpan<string>)["Ipv4Reassembly", "Ipv6Reassembly"])
        {
            bool v6 = target == "Ipv6Reassembly";
            // Datagram definitions: 2-byte payload length (8 + value % 4000), grid step byte (8·(1 + b % 64)), kind byte.
            byte[] define0 = [0x01, 0x00, 0x3F, 0x00];        // 264 B payload, 512-byte grid → 1 piece … then cut below
            byte[] define1 = [0x00, 0xF0, 0x0F, 0x05];        // 248 B, 128-byte grid, TCP
            byte[] define2 = [0x03, 0x00, 0x1F, 0x02];        // 776 B, 256-byte grid, protocol 253
            add(target, "in-order", [0x00, 0x00, .. define1, 0x04, 0x08]);
            add(target, "reverse-with-duplicate", [0x00, 0x09, .. define1, 0x05, 0x05, 0x01]);
            add(target, "two-interleaved", [0x00, 0x02, .. define2, 0x01, .. define1, 0x06, 0x05, 0x0A, 0x09, 0x0E]);
            add(target, "overlap-then-rest", [0x00, 0x00, .. define1, 0x80, 0x08, 0x10, 0x04, 0x08]);
            add(target, "timeout-then-complete", [0x80, 0x00, .. define1, 0xDF, 0xDF, 0xE0, 0x04, 0x08, 0x00]);
            add(target, "evicted-one-datagram-limit", [0x04, 0x00, .. define1, 0x01, .. define2, 0x04, 0x05, 0x08, 0x09]);
            add(target, "memory-limit-2k", [0x03, 0x02, .. define2, 0x06, 0x0A, 0x0E, 0x12]);
            add(target, "too-many-fragments", [0x10, 0x03, 0x03, 0x00, 0x00, 0x00, 0x07, 0x0B, 0x0F, 0x13, 0x17]);
            add(target, "single-piece", [0x00, 0x00, .. define0]);
            // Raw fragments (not harness datagrams): a valid pair from another source, then junk.
            byte[] packet = v6
                ? PacketGenerators.Ipv6Packet(IpProtocol.Udp, new Ipv6Repr { HopLimit = 9, Source = 7, Destination = 8 }, [], new byte[64])
                : PacketGenerators.Ipv4Packet(IpProtocol.Udp, 0x0B000001, 0x0B000002, new byte[64], dontFragment: false);
            byte[][] pieces = v6 ? FragmentGenerators.Ipv6Fragments(packet, 77, [32]) : FragmentGenerators.Ipv4Fragments(packet, [32]);
            add(target, "raw-pair", [0x60, 0xA0, .. Record(pieces[1]), 0xA0, .. Record(pieces[0])]);
            add(target, "raw-not-a-fragment-and-junk", [0x00, 0xA0, .. Record(packet), 0xA0, .. Record(pieces[0][..^3]), 0xA0, 0x00, 0x03, 0x45, 0x00, 0x00]);
        }
    }

    private static List<byte[]> Flow(SegmentSpec first, int count, TcpFlags lastFlags)
    {
        var list = new List<byte[]>();
        SegmentSpec spec = first;
        for (int i = 0; i < count; i++)
        {
            if (i == count - 1)
            {
                spec = spec with { Flags = spec.Flags | lastFlags };
            }
            list.Add(spec.Build());
            spec = spec.Next(SegmentSpec.Data(first.Payload.Length, i + 10));
        }
        return [.. ThroughPcap([.. list.Select((p, i) => ($"flow-{i}", p))]).Select(t => t.Packet)];
    }

    private static List<byte[]> Interleave(params List<byte[]>[] flows)
    {
        var list = new List<byte[]>();
        for (int i = 0; flows.Any(f => i < f.Count); i++)
        {
            foreach (List<byte[]> flow in flows)
            {
                if (i < flow.Count)
                {
                    list.Add(flow[i]);
                }
            }
        }
        return list;
    }

    // Config byte(s), then records; an empty packet is a batch end (empty record with the fix-checksums bit).
    private static byte[] GroInput(byte config, byte[] extra, IReadOnlyList<byte[]> packets, bool fix = false)
    {
        using var stream = new MemoryStream();
        stream.WriteByte(config);
        stream.Write(extra);
        for (int i = 0; i < packets.Count; i++)
        {
            byte[] packet = packets[i];
            WriteRecord(stream, packet, segmented: packet.Length > 0 && i % 3 == 1, fix: fix || packet.Length == 0);
        }
        return stream.ToArray();
    }

    private static byte[] GsoInput(GsoType type, ushort mss, byte flags, ushort checksumStart, byte[] packet)
    {
        var bytes = new byte[6 + packet.Length];
        bytes[0] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), mss);
        bytes[3] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), checksumStart);
        packet.CopyTo(bytes, 6);
        return bytes;
    }

    private static byte[] Record(byte[] packet, bool segmented = false, bool fix = false)
    {
        using var stream = new MemoryStream();
        WriteRecord(stream, packet, segmented, fix);
        return stream.ToArray();
    }

    private static void WriteRecord(Stream stream, byte[] packet, bool segmented, bool fix)
    {
        ushort prefix = PacketRecord.Prefix(packet.Length, segmented, fix);
        stream.WriteByte((byte)(prefix >> 8));
        stream.WriteByte((byte)prefix);
        stream.Write(packet);
    }
}
