// Writes the seed corpus: the SeedPackets, passed through a pcap written by NetStack's own PcapWriter and read
// back (so the corpus is what a capture of the stack holds), then cut per target: whole packets, transport
// headers, ICMP messages, checksum inputs and length-prefixed batches for the channel endpoint.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Wire;

namespace NetStack.Fuzz.Seeds;

/// <summary>Generates <c>Corpora/&lt;Target&gt;/</c> seed files.</summary>
public static partial class SeedCorpus
{
    private static readonly DateTimeOffset CaptureStart = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Writes every target's seed files under <paramref name="root"/>; returns the number of files per target.</summary>
    public static IReadOnlyDictionary<string, int> Write(string root)
    {
        IReadOnlyList<(string Name, byte[] Packet)> packets = ThroughPcap(SeedPackets.All());
        var files = new Dictionary<string, List<(string, byte[])>>(StringComparer.Ordinal);
        void Add(string target, string name, ReadOnlySpan<byte> bytes)
        {
            if (!files.TryGetValue(target, out var list))
            {
                files[target] = list = [];
            }
            list.Add((name, bytes.ToArray()));
        }

        foreach ((string name, byte[] packet) in packets)
        {
            Add("RxValidation", name, packet);
            Add("IpLayout", name, packet);
            Add((packet[0] >> 4) == 6 ? "Ipv6" : "Ipv4", name, packet);
            ReadOnlySpan<byte> transport = SeedPackets.Transport(packet, out IpProtocol protocol);
            if (transport.IsEmpty)
            {
                continue;
            }
            switch (protocol)
            {
                case IpProtocol.Tcp:
                    Add("Tcp", name, transport);
                    break;
                case IpProtocol.Udp:
                    Add("Udp", name, transport);
                    break;
                case IpProtocol.Icmp:
                    Add("IcmpV4", name, transport);
                    break;
                case IpProtocol.IcmpV6:
                    Add("IcmpV6", name, transport);
                    break;
                default:
                    break;
            }
        }
        AddTransportEdgeCases(Add);
        AddChecksumInputs(Add, packets);
        AddChannelBatches(Add, packets);
        AddOffloadSeeds(Add);
        AddTunSeeds(Add);
        AddReassemblySeeds(Add);
        AddStackSeeds(Add, packets);
        AddPcapFrameSeeds(Add, packets);

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach ((string target, List<(string Name, byte[] Bytes)> list) in files)
        {
            string dir = Corpus.DirectoryOf(target, root);
            Directory.CreateDirectory(dir);
            foreach ((string name, byte[] bytes) in list)
            {
                File.WriteAllBytes(Path.Combine(dir, name + ".bin"), bytes);
            }
            counts[target] = list.Count;
        }
        return counts;
    }

    /// <summary>Writes the packets to a pcap with <see cref="PcapWriter"/> (fixed clock), reads the records back, checks them.</summary>
    public static IReadOnlyList<(string Name, byte[] Packet)> ThroughPcap(IReadOnlyList<(string Name, byte[] Packet)> packets)
    {
        ArgumentNullException.ThrowIfNull(packets);
        string path = Path.Combine(Path.GetTempPath(), $"netstack-fuzz-seed-{Environment.ProcessId}.pcap");
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "seed");
        try
        {
            using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = new FixedTime(CaptureStart) }))
            {
                foreach ((_, byte[] packet) in packets)
                {
                    using PacketBuffer buffer = pool.RentCopy(packet);
                    if (!writer.Write(buffer))
                    {
                        throw new InvalidOperationException("PcapWriter refused a seed packet.");
                    }
                }
            }
            List<byte[]> records = ReadPcap(File.ReadAllBytes(path));
            if (records.Count != packets.Count)
            {
                throw new InvalidOperationException($"pcap holds {records.Count} records, wrote {packets.Count}.");
            }
            var result = new List<(string, byte[])>(records.Count);
            for (int i = 0; i < records.Count; i++)
            {
                if (!records[i].AsSpan().SequenceEqual(packets[i].Packet))
                {
                    throw new InvalidOperationException($"pcap record {i} differs from the packet written.");
                }
                result.Add((packets[i].Name, records[i]));
            }
            return result;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The packets of a classic pcap file (either byte order), checking for raw-IP link type.</summary>
    public static List<byte[]> ReadPcap(ReadOnlySpan<byte> file)
    {
        if (file.Length < 24)
        {
            throw new InvalidDataException("pcap shorter than its global header");
        }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool little = magic is 0xA1B2C3D4 or 0xA1B23C4D;
        if (!little && magic is not (0xD4C3B2A1 or 0x4D3CB2A1))
        {
            throw new InvalidDataException($"not a pcap file (magic 0x{magic:X8})");
        }
        uint Read32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        uint linkType = Read32(file[20..]);
        if (linkType is not (101 or 12 or 14))
        {
            throw new InvalidDataException($"pcap link type {linkType} is not raw IP");
        }
        var records = new List<byte[]>();
        int position = 24;
        while (position + 16 <= file.Length)
        {
            int captured = checked((int)Read32(file[(position + 8)..]));
            position += 16;
            if (captured > file.Length - position)
            {
                throw new InvalidDataException("truncated pcap record");
            }
            records.Add(file.Slice(position, captured).ToArray());
            position += captured;
        }
        return records;
    }

    private static void AddTransportEdgeCases(Action<string, string, ReadOnlySpan<byte>> add)
    {
        // TCP option area corner cases: EOL then junk, unknown kind, zero-length option, SACK of 5 blocks.
        byte[] header = new byte[60];
        new TcpRepr { SourcePort = 1, DestinationPort = 2, Flags = TcpFlags.Ack, WindowSize = 100 }.Emit(header);
        header[12] = 0xF0; // data offset 15
        byte[][] optionAreas =
        [
            [0x00, 0xDE, 0xAD, 0xBE, 0xEF],
            [0xFD, 0x06, 0x01, 0x02, 0x03, 0x04, 0x01, 0x01, 0x03, 0x03, 0x0E],
            [0x01, 0x22, 0x00],
            [0x05, 0x2A],
            [0x08, 0x0A, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x03, 0x03, 0xFF],
        ];
        for (int i = 0; i < optionAreas.Length; i++)
        {
            byte[] segment = (byte[])header.Clone();
            optionAreas[i].CopyTo(segment, 20);
            add("Tcp", $"options-edge-{i}", segment);
        }
        add("Tcp", "short-19", header.AsSpan(0, 19));
        add("Udp", "length-below-8", [0, 1, 0, 2, 0, 7, 0, 0]);
        add("Udp", "length-past-buffer", [0, 1, 0, 2, 0, 40, 0x12, 0x34, 1, 2, 3]);
        add("IcmpV4", "unsupported-redirect", [5, 1, 0, 0, 10, 0, 0, 1, 0x45, 0, 0, 20]);
        add("IcmpV4", "short-7", [8, 0, 0, 0, 0, 0, 0]);
        add("IcmpV6", "router-advertisement", [134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]);
        add("IcmpV6", "parameter-problem-pointer", [4, 1, 0, 0, 0, 0, 0, 40, 0x60, 0, 0, 0, 0, 8, 58, 64]);
    }

    private static void AddChecksumInputs(Action<string, string, ReadOnlySpan<byte>> add, IReadOnlyList<(string Name, byte[] Packet)> packets)
    {
        add("Checksum", "empty", []);
        add("Checksum", "one-byte", [0xFF]);
        foreach (int length in (ReadOnlySpan<int>)[3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 255, 257])
        {
            add("Checksum", $"random-{length}", SeedPackets.Payload(length, length));
        }
        byte[] carries = new byte[300];
        carries.AsSpan().Fill(0xFF);
        add("Checksum", "all-ones-300", carries);
        carries.AsSpan(0, 151).Fill(0);
        add("Checksum", "zeros-then-ones-300", carries);
        foreach ((string name, byte[] packet) in packets.Where(p => p.Name.Contains("tcp-data", StringComparison.Ordinal) || p.Name.Contains("packet-too-big", StringComparison.Ordinal)))
        {
            add("Checksum", name, packet);
        }
    }

    private static void AddChannelBatches(Action<string, string, ReadOnlySpan<byte>> add, IReadOnlyList<(string Name, byte[] Packet)> packets)
    {
        // Batches of 2–6 packets, alternating flat and segmented (top bit of the prefix), good and bad mixed.
        for (int batch = 0; batch * 3 < packets.Count; batch++)
        {
            using var stream = new MemoryStream();
            int count = 2 + (batch % 5);
            for (int i = 0; i < count; i++)
            {
                byte[] packet = packets[((batch * 3) + (i * 7)) % packets.Count].Packet;
                ushort prefix = (ushort)(packet.Length | (i % 2 == 1 ? 0x8000 : 0));
                stream.WriteByte((byte)(prefix >> 8));
                stream.WriteByte((byte)prefix);
                stream.Write(packet);
            }
            add("ChannelInbound", $"batch-{batch:D2}", stream.ToArray());
        }
        byte[] one = packets[0].Packet;
        add("ChannelInbound", "length-past-end", [0x7F, 0xFF, .. one]);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        private long _ticks;

        public override DateTimeOffset GetUtcNow() => now.AddTicks(Interlocked.Add(ref _ticks, TimeSpan.TicksPerMillisecond));
    }
}
