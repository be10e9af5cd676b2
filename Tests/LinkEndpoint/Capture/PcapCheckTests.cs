// `netstack pcap check`: exact verdicts for known packets, every link type it reads (pcap and pcapng), files it
// cannot read, and hundreds of mutated capture files that must never crash it.
using System.Buffers.Binary;
using System.CommandLine;
using System.Text.Json;
using NetStack.Buffers;
using NetStack.Cli;
using NetStack.Fuzz.Seeds;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Simulation;

namespace NetStack.Tests.LinkEndpoint.Capture;

public class PcapCheckTests : IDisposable
{
    private readonly List<string> _files = [];

    public void Dispose()
    {
        foreach (string file in _files)
        {
            File.Delete(file);
        }
    }

    private string TempFile(string extension = ".pcap")
    {
        string path = Path.Combine(Path.GetTempPath(), $"netstack-pcapcheck-{Guid.NewGuid():N}{extension}");
        _files.Add(path);
        return path;
    }

    private static (int Status, List<JsonDocument> Lines, string Error) Check(string path)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int status = PcapCheck.Run(path, stdout, stderr);
        List<JsonDocument> lines = [.. stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l))];
        return (status, lines, stderr.ToString());
    }

    private string WriteWithPcapWriter(IEnumerable<byte[]> packets)
    {
        string path = TempFile();
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "pcapcheck");
        using var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = new ManualClock() });
        foreach (byte[] packet in packets)
        {
            using PacketBuffer buffer = pool.RentCopy(packet);
            Assert.True(writer.Write(buffer));
        }
        return path;
    }

    private static string Layers(JsonDocument line) => string.Join(",", line.RootElement.GetProperty("layers").EnumerateArray().Select(e => e.GetString()));

    private static string? Error(JsonDocument line) =>
        line.RootElement.GetProperty("error") is { ValueKind: JsonValueKind.Object } e ? $"{e.GetProperty("layer").GetString()}.{e.GetProperty("kind").GetString()}" : null;

    private static string Checksums(JsonDocument line) =>
        string.Join(",", line.RootElement.GetProperty("checksums").EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}"));

    public static TheoryData<string, string, string?, string> KnownPackets => new()
    {
        { "ipv4-tcp-syn-all-options", "ipv4,tcp", null, "ipv4=good,tcp=good" },
        { "ipv6-tcp-synack-all-options", "ipv6,tcp", null, "tcp=good" },
        { "ipv4-options-udp", "ipv4,udp", null, "ipv4=good,udp=good" },
        { "ipv4-udp-zero-checksum", "ipv4,udp", null, "ipv4=good,udp=none" },
        { "ipv4-fragment-first", "ipv4,fragment,udp", null, "ipv4=good,udp=unverified" },
        { "ipv4-fragment-last", "ipv4,fragment", null, "ipv4=good" },
        { "ipv6-hbh-route-frag-dest-udp", "ipv6,hop_by_hop,routing,fragment,destination_options,udp", null, "udp=unverified" },
        { "ipv6-fragment-later", "ipv6,fragment", null, "" },
        { "ipv4-icmp-echo-request", "ipv4,icmp", null, "ipv4=good,icmp=good" },
        { "ipv6-icmp-packet-too-big", "ipv6,icmpv6", null, "icmpv6=good" },
        { "bad-ipv4-header-checksum", "ipv4,tcp", null, "ipv4=bad,tcp=good" },
        { "bad-ipv4-tcp-checksum", "ipv4,tcp", null, "ipv4=good,tcp=bad" },
        { "bad-ipv4-truncated", "ipv4", "ipv4.truncated", "ipv4=good" },
        { "bad-ipv4-link-padding", "ipv4,tcp", null, "ipv4=good,tcp=good" },
        { "bad-ipv4-tcp-data-offset", "ipv4,tcp", "tcp.bad_header_length", "ipv4=good" },
        { "bad-ipv4-tcp-mss-length", "ipv4,tcp", "tcp.bad_option", "ipv4=good,tcp=bad" }, // option length changed after the checksum
        { "bad-ipv6-udp-zero-checksum", "ipv6,udp", "udp.zero_checksum_over_ipv6", "udp=zero_over_ipv6" },
        { "bad-ipv6-chain-too-long", "ipv6,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options,destination_options", "ipv6.chain_too_long", "" },
        { "bad-ipv6-payload-length", "ipv6", "ipv6.truncated", "" },
    };

    [Theory]
    [MemberData(nameof(KnownPackets))]
    public void Known_packet_gets_its_layers_error_and_checksum_verdicts(string name, string layers, string? error, string checksums)
    {
        byte[] packet = SeedPackets.All().Single(p => p.Name == name).Packet;
        (int status, List<JsonDocument> lines, _) = Check(WriteWithPcapWriter([packet]));
        Assert.Equal(0, status);
        Assert.Equal(2, lines.Count);
        Assert.Equal(1, lines[0].RootElement.GetProperty("index").GetInt32());
        Assert.Equal("raw", lines[0].RootElement.GetProperty("link").GetString());
        Assert.Equal(layers, Layers(lines[0]));
        Assert.Equal(error, Error(lines[0]));
        Assert.Equal(checksums, Checksums(lines[0]));
    }

    [Fact]
    public void Summary_counts_every_packet_error_layer_and_verdict()
    {
        IReadOnlyList<(string Name, byte[] Packet)> seeds = SeedPackets.All();
        (int status, List<JsonDocument> lines, _) = Check(WriteWithPcapWriter(seeds.Select(s => s.Packet)));
        Assert.Equal(0, status);
        Assert.Equal(seeds.Count + 1, lines.Count);
        JsonElement summary = lines[^1].RootElement.GetProperty("summary");
        List<JsonDocument> packets = lines[..^1];
        Assert.Equal(seeds.Count, summary.GetProperty("packets").GetInt32());
        int withError = packets.Count(l => Error(l) is not null);
        Assert.Equal(withError, summary.GetProperty("with_error").GetInt32());
        Assert.Equal(seeds.Count - withError, summary.GetProperty("clean").GetInt32());
        Assert.Equal(withError, summary.GetProperty("errors").EnumerateObject().Sum(p => p.Value.GetInt32()));
        Assert.Equal(packets.Count(l => Checksums(l).Contains("tcp=bad", StringComparison.Ordinal)),
            summary.GetProperty("checksums").GetProperty("tcp").GetProperty("bad").GetInt32());
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("read_error").ValueKind);
    }

    // A classic pcap file (little-endian, microsecond) with the given link type and frames.
    private string WritePcap(uint linkType, params byte[][] frames)
    {
        string path = TempFile();
        using var file = new BinaryWriter(File.Create(path));
        file.Write(0xA1B2C3D4u);
        file.Write((ushort)2);
        file.Write((ushort)4);
        file.Write(0);
        file.Write(0u);
        file.Write(65535u);
        file.Write(linkType);
        foreach (byte[] frame in frames)
        {
            file.Write(1u);
            file.Write(0u);
            file.Write((uint)frame.Length);
            file.Write((uint)frame.Length);
            file.Write(frame);
        }
        return path;
    }

    // A pcapng file: section header, one interface description, one enhanced packet block per frame.
    private string WritePcapng(ushort linkType, params byte[][] frames)
    {
        string path = TempFile(".pcapng");
        using var file = new BinaryWriter(File.Create(path));
        file.Write(0x0A0D0D0Au);
        file.Write(28u);
        file.Write(0x1A2B3C4Du);
        file.Write((ushort)1);
        file.Write((ushort)0);
        file.Write(-1L);
        file.Write(28u);
        file.Write(1u); // IDB
        file.Write(20u);
        file.Write(linkType);
        file.Write((ushort)0);
        file.Write(65535u);
        file.Write(20u);
        foreach (byte[] frame in frames)
        {
            int padded = (frame.Length + 3) & ~3;
            uint length = (uint)(32 + padded);
            file.Write(6u); // EPB
            file.Write(length);
            file.Write(0u);
            file.Write(0u);
            file.Write(1u);
            file.Write((uint)frame.Length);
            file.Write((uint)frame.Length);
            file.Write(frame);
            file.Write(new byte[padded - frame.Length]);
            file.Write(length);
        }
        return path;
    }

    private static byte[] Ipv4Tcp => SeedPackets.All().Single(p => p.Name == "ipv4-tcp-syn-all-options").Packet;

    private static byte[] Ipv6Udp => SeedPackets.All().Single(p => p.Name == "ipv6-udp-17").Packet;

    private static byte[] Ethernet(ushort etherType, byte[] payload, params ushort[] vlans)
    {
        var frame = new List<byte> { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
        foreach (ushort tpid in vlans)
        {
            frame.AddRange([(byte)(tpid >> 8), (byte)tpid, 0x00, 0x2A]);
        }
        frame.AddRange([(byte)(etherType >> 8), (byte)etherType]);
        frame.AddRange(payload);
        return [.. frame];
    }

    [Fact]
    public void Ethernet_vlan_arp_linux_cooked_and_loopback_captures_are_dissected()
    {
        byte[] sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00, .. Ipv4Tcp];
        byte[] sll2 = [0x86, 0xDD, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, .. Ipv6Udp];
        (string Path, string[] Layers)[] cases =
        [
            (WritePcap(1, Ethernet(0x0800, Ipv4Tcp), Ethernet(0x86DD, Ipv6Udp, 0x8100), Ethernet(0x86DD, Ipv6Udp, 0x88A8, 0x8100), Ethernet(0x0806, new byte[28])),
                ["ethernet,ipv4,tcp", "ethernet,vlan,ipv6,udp", "ethernet,vlan,vlan,ipv6,udp", "ethernet,ethertype_0x0806"]),
            (WritePcap(113, sll), ["linux_sll,ipv4,tcp"]),
            (WritePcap(276, sll2), ["linux_sll2,ipv6,udp"]),
            (WritePcap(0, [2, 0, 0, 0, .. Ipv4Tcp]), ["loopback,ipv4,tcp"]),
            (WritePcap(228, Ipv4Tcp), ["ipv4,tcp"]),
            (WritePcapng(1, Ethernet(0x0800, Ipv4Tcp), Ethernet(0x86DD, Ipv6Udp)), ["ethernet,ipv4,tcp", "ethernet,ipv6,udp"]),
            (WritePcapng(101, Ipv6Udp), ["ipv6,udp"]),
        ];
        foreach ((string path, string[] layers) in cases)
        {
            (int status, List<JsonDocument> lines, string error) = Check(path);
            Assert.True(status == 0, error);
            Assert.Equal(layers, lines[..^1].Select(Layers));
            Assert.All(lines[..^1], l => Assert.Null(Error(l)));
            Assert.All(lines[..^1], l => Assert.DoesNotContain("bad", Checksums(l), StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Unsupported_link_type_and_short_link_headers_are_reported_per_packet()
    {
        (int status, List<JsonDocument> lines, _) = Check(WritePcap(147, [1, 2, 3]));
        Assert.Equal(0, status);
        Assert.Equal("link.unsupported_link_type", Error(lines[0]));
        (status, lines, _) = Check(WritePcap(1, [1, 2, 3], Ethernet(0x8100, [])));
        Assert.Equal(0, status);
        Assert.Equal("ethernet.truncated", Error(lines[0]));
        Assert.Equal("vlan.truncated", Error(lines[1]));
    }

    [Fact]
    public void Files_that_cannot_be_read_exit_non_zero_with_a_message()
    {
        (int status, List<JsonDocument> lines, string error) = Check(Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.pcap"));
        Assert.Equal(PcapCheck.ReadError, status);
        Assert.Empty(lines);
        Assert.Contains("cannot read", error, StringComparison.Ordinal);

        string text = TempFile();
        File.WriteAllText(text, "this is not a capture file at all, just text long enough to be read");
        (status, lines, error) = Check(text);
        Assert.Equal(PcapCheck.ReadError, status);
        Assert.Contains("cannot read", error, StringComparison.Ordinal);

        // Cut in the middle of the second record: the first is reported, then the summary with the read error.
        string whole = WritePcap(101, Ipv4Tcp, Ipv4Tcp);
        string cut = TempFile();
        File.WriteAllBytes(cut, File.ReadAllBytes(whole)[..^10]);
        (status, lines, error) = Check(cut);
        Assert.Equal(PcapCheck.ReadError, status);
        Assert.Equal(2, lines.Count);
        Assert.Equal(JsonValueKind.String, lines[1].RootElement.GetProperty("summary").GetProperty("read_error").ValueKind);
        Assert.Contains("read error after 1 packet", error, StringComparison.Ordinal);

        string empty = WritePcap(101);
        (status, lines, _) = Check(empty);
        Assert.Equal(0, status);
        Assert.Equal(0, Assert.Single(lines).RootElement.GetProperty("summary").GetProperty("packets").GetInt32());
    }

    [Fact]
    public void Mutated_capture_files_never_crash_the_check()
    {
        // 400 mutations of a pcap and a pcapng of every seed packet: byte changes in the file and record headers and
        // anywhere else, 32-bit length fields set to extreme values, truncations. Each run must end with 0 (read)
        // or 1 (unreadable), print only JSON lines, and end with a summary whenever the file opened.
        byte[][] frames = [.. SeedPackets.All().Select(p => Ethernet(p.Packet[0] >> 4 == 6 ? (ushort)0x86DD : (ushort)0x0800, p.Packet))];
        byte[][] originals = [File.ReadAllBytes(WritePcap(1, frames)), File.ReadAllBytes(WritePcapng(1, frames))];
        var random = new Random(20250101);
        string path = TempFile();
        int read = 0, unreadable = 0;
        for (int i = 0; i < 400; i++)
        {
            byte[] bytes = (byte[])originals[i % 2].Clone();
            for (int m = random.Next(1, 5); m > 0; m--)
            {
                switch (random.Next(4))
                {
                    case 0:
                        bytes[random.Next(Math.Min(bytes.Length, 64))] = (byte)random.Next(256);
                        break;
                    case 1:
                        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                        break;
                    case 2:
                        int at = random.Next(bytes.Length - 4) & ~3;
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), random.Next(3) switch { 0 => uint.MaxValue, 1 => 0x7FFF_FFFF, _ => (uint)random.Next(70000) });
                        break;
                    default:
                        bytes = bytes[..random.Next(1, bytes.Length)];
                        break;
                }
            }
            File.WriteAllBytes(path, bytes);
            var stdout = new StringWriter();
            int status = PcapCheck.Run(path, stdout, TextWriter.Null);
            Assert.True(status is 0 or PcapCheck.ReadError, $"mutation {i}: exit {status}");
            string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            foreach (string line in lines)
            {
                using JsonDocument json = JsonDocument.Parse(line);
            }
            if (lines.Length > 0)
            {
                Assert.StartsWith("{\"summary\":", lines[^1], StringComparison.Ordinal);
                read++;
            }
            else
            {
                unreadable++;
            }
        }
        Assert.True(read > 100 && unreadable > 10, $"{read} read, {unreadable} unreadable");
    }

    [Fact]
    public void Command_line_pcap_check_runs_through_System_CommandLine()
    {
        string path = WriteWithPcapWriter([Ipv4Tcp, Ipv6Udp]);
        var root = new RootCommand { PcapCheckCommand.Create() };
        Assert.Equal(0, root.Parse(["pcap", "check", path]).Invoke());
        Assert.NotEqual(0, root.Parse(["pcap", "check"]).Invoke());
    }
}
