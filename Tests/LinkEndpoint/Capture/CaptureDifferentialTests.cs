// Differential checks on packets our stack really sent and received (captured by a host's pcap tap): PacketDotNet
// parses every one as we do, and tshark's checksum verdicts equal `netstack pcap check`'s, on the capture and on a
// copy with corrupted bytes. tshark is skipped, with the reason shown, where it is not installed.
using System.Diagnostics;
using System.Text.Json;
using NetStack.Cli;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;
using Xunit.Abstractions;

namespace NetStack.Tests.LinkEndpoint.Capture;

public class CaptureDifferentialTests(ITestOutputHelper output)
{
    [Fact]
    public void Captured_traffic_has_every_kind_of_packet()
    {
        IReadOnlyList<byte[]> records = CapturedTraffic.Records;
        var kinds = records.Select(Kind).ToHashSet();
        output.WriteLine($"{records.Count} packets: {string.Join(", ", kinds.Order())}");
        Assert.Superset(new HashSet<string> { "4/tcp", "6/tcp", "4/udp", "6/udp", "4/fragment", "6/fragment", "4/icmp", "6/icmpv6" }, kinds);
    }

    [Fact]
    public void PacketDotNet_parses_every_captured_packet_as_we_do()
    {
        int transports = 0;
        foreach (byte[] bytes in CapturedTraffic.Records)
        {
            IPPacket ip = bytes[0] >> 4 == 4 ? new IPv4Packet(new ByteArraySegment(bytes)) : new IPv6Packet(new ByteArraySegment(bytes));
            if (bytes[0] >> 4 == 4)
            {
                Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header v4, out _));
                var theirs = Assert.IsType<IPv4Packet>(ip);
                Assert.Equal(v4.Source, BitConverterBigEndian(theirs.SourceAddress.GetAddressBytes()));
                Assert.Equal(v4.Destination, BitConverterBigEndian(theirs.DestinationAddress.GetAddressBytes()));
                Assert.Equal((int)v4.Protocol, (int)theirs.Protocol);
                Assert.Equal(v4.TimeToLive, theirs.TimeToLive);
                Assert.Equal(v4.TotalLength, theirs.TotalLength);
                Assert.Equal(v4.Identification, theirs.Id);
                Assert.Equal(v4.FragmentOffset / 8, theirs.FragmentOffset);
                Assert.True(theirs.ValidIPChecksum);
                Assert.True(v4.VerifyChecksum());
                if (!v4.IsFragment)
                {
                    transports += CompareTransport(v4.Protocol, v4.Payload, ip.PayloadPacket, bytes);
                }
            }
            else
            {
                Assert.True(Ipv6Header.TryCreate(bytes, out Ipv6Header v6, out _));
                var theirs = Assert.IsType<IPv6Packet>(ip);
                Assert.Equal(v6.SourceAddress.ToArray(), theirs.SourceAddress.GetAddressBytes());
                Assert.Equal(v6.DestinationAddress.ToArray(), theirs.DestinationAddress.GetAddressBytes());
                Assert.Equal(v6.HopLimit, theirs.HopLimit);
                Assert.Equal(v6.PayloadLength, theirs.PayloadLength);
                Assert.True(Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _));
                if (!chain.HasFragmentHeader)
                {
                    Assert.Equal((int)chain.UpperLayerProtocol, (int)theirs.Protocol);
                    transports += CompareTransport(chain.UpperLayerProtocol, v6.Payload[chain.UpperLayerOffset..], ip.PayloadPacket, bytes);
                }
            }
        }
        Assert.True(transports > 20, $"{transports} transport headers compared");
    }

    private static int CompareTransport(IpProtocol protocol, ReadOnlySpan<byte> transport, Packet? theirs, byte[] packet)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp:
                Assert.True(TcpHeader.TryCreate(transport, out TcpHeader tcp, out _));
                var pdnTcp = Assert.IsType<TcpPacket>(theirs);
                Assert.Equal(tcp.SourcePort, pdnTcp.SourcePort);
                Assert.Equal(tcp.DestinationPort, pdnTcp.DestinationPort);
                Assert.Equal(tcp.SequenceNumber, pdnTcp.SequenceNumber);
                Assert.Equal(tcp.AcknowledgmentNumber, pdnTcp.AcknowledgmentNumber);
                Assert.Equal((int)tcp.Flags & 0xFF, pdnTcp.Flags & 0xFF);
                Assert.Equal(tcp.WindowSize, pdnTcp.WindowSize);
                Assert.Equal(tcp.HeaderLength / 4, pdnTcp.DataOffset);
                Assert.Equal(tcp.Payload.Length, pdnTcp.PayloadData?.Length ?? 0);
                Assert.Equal(tcp.Checksum, pdnTcp.Checksum);
                Assert.True(pdnTcp.ValidTcpChecksum, $"PacketDotNet: bad TCP checksum in {Convert.ToHexString(packet)}");
                return 1;
            case IpProtocol.Udp:
                Assert.True(UdpHeader.TryCreate(transport, out UdpHeader udp, out _));
                var pdnUdp = Assert.IsType<UdpPacket>(theirs);
                Assert.Equal(udp.SourcePort, pdnUdp.SourcePort);
                Assert.Equal(udp.DestinationPort, pdnUdp.DestinationPort);
                Assert.Equal(udp.Length, pdnUdp.Length);
                Assert.Equal(udp.Checksum, pdnUdp.Checksum);
                Assert.True(pdnUdp.ValidUdpChecksum, $"PacketDotNet: bad UDP checksum in {Convert.ToHexString(packet)}");
                return 1;
            case IpProtocol.Icmp:
                Assert.True(IcmpV4Header.TryCreate(transport, out IcmpV4Header icmp, out _));
                var pdnIcmp = Assert.IsType<IcmpV4Packet>(theirs);
                Assert.Equal((int)icmp.Type, (int)pdnIcmp.TypeCode >> 8);
                Assert.Equal(icmp.Code, (byte)pdnIcmp.TypeCode);
                Assert.Equal(icmp.Checksum, pdnIcmp.Checksum);
                return 1;
            case IpProtocol.IcmpV6:
                Assert.True(IcmpV6Header.TryCreate(transport, out IcmpV6Header icmp6, out _));
                var pdnIcmp6 = Assert.IsType<IcmpV6Packet>(theirs);
                Assert.Equal((int)icmp6.Type, (int)pdnIcmp6.Type);
                Assert.Equal(icmp6.Code, pdnIcmp6.Code);
                Assert.Equal(icmp6.Checksum, pdnIcmp6.Checksum);
                return 1;
            default:
                return 0;
        }
    }

    private static uint BitConverterBigEndian(byte[] address) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address);

    private static string Kind(byte[] bytes)
    {
        if (bytes[0] >> 4 == 4)
        {
            Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header v4, out _));
            return v4.IsFragment ? "4/fragment" : $"4/{v4.Protocol.ToString().ToLowerInvariant()}";
        }
        Assert.True(Ipv6Header.TryCreate(bytes, out Ipv6Header v6, out _));
        Assert.True(Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _));
        return chain.IsFragment ? "6/fragment" : $"6/{chain.UpperLayerProtocol.ToString().ToLowerInvariant()}";
    }

    [TsharkFact]
    public void Tshark_checksum_verdicts_equal_pcap_checks_on_the_capture_and_on_corrupted_copies()
    {
        // Every packet twice: as captured, then corrupted — the last byte (under the transport checksum) flipped,
        // and for every third IPv4 packet the TTL too (under the header checksum only).
        string path = CapturedTraffic.WritePcap();
        string corrupted = CapturedTraffic.WritePcap((i, bytes) =>
        {
            byte[] copy = (byte[])bytes.Clone();
            copy[^1] ^= 0x5A;
            if (copy[0] >> 4 == 4 && i % 3 == 0)
            {
                copy[8] ^= 0x01;
            }
            return copy;
        });
        try
        {
            int compared = 0, bad = 0;
            foreach (string file in new[] { path, corrupted })
            {
                List<Dictionary<string, string>> ours = PcapCheck(file);
                List<Dictionary<string, string>> theirs = TsharkChecksums(file);
                Assert.Equal(ours.Count, theirs.Count);
                for (int i = 0; i < ours.Count; i++)
                {
                    foreach ((string name, string verdict) in ours[i])
                    {
                        if (verdict is not ("good" or "bad"))
                        {
                            continue;
                        }
                        Assert.True(theirs[i].TryGetValue(name, out string? tshark), $"{file} packet {i + 1}: tshark has no {name} checksum verdict");
                        Assert.True(verdict == tshark, $"{file} packet {i + 1}: {name} checksum {verdict} for netstack, {tshark} for tshark");
                        compared++;
                        bad += verdict == "bad" ? 1 : 0;
                    }
                }
            }
            output.WriteLine($"{compared} checksum verdicts compared with tshark, {bad} of them bad");
            Assert.True(bad > 10 && compared > bad + 10, $"{compared} verdicts, {bad} bad");
        }
        finally
        {
            File.Delete(path);
            File.Delete(corrupted);
        }
    }

    [Fact]
    public void Pcap_check_finds_no_error_and_no_bad_checksum_in_the_capture()
    {
        string path = CapturedTraffic.WritePcap();
        try
        {
            var stdout = new StringWriter();
            Assert.Equal(0, NetStack.Link.Capture.PcapCheck.Run(path, stdout, TextWriter.Null));
            string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(CapturedTraffic.Records.Count + 1, lines.Length);
            foreach (string line in lines[..^1])
            {
                using JsonDocument json = JsonDocument.Parse(line);
                Assert.True(json.RootElement.GetProperty("error").ValueKind == JsonValueKind.Null, line);
                foreach (JsonProperty checksum in json.RootElement.GetProperty("checksums").EnumerateObject())
                {
                    Assert.True(checksum.Value.GetString() is "good" or "unverified", line);
                }
            }
            using JsonDocument summary = JsonDocument.Parse(lines[^1]);
            Assert.True(CapturedTraffic.Records.Count == summary.RootElement.GetProperty("summary").GetProperty("clean").GetInt32(), lines[^1]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>`netstack pcap check` on <paramref name="path"/>: each packet's checksum verdicts by name.</summary>
    internal static List<Dictionary<string, string>> PcapCheck(string path)
    {
        var stdout = new StringWriter();
        Assert.Equal(0, NetStack.Link.Capture.PcapCheck.Run(path, stdout, TextWriter.Null));
        var result = new List<Dictionary<string, string>>();
        foreach (string line in stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using JsonDocument json = JsonDocument.Parse(line);
            if (json.RootElement.TryGetProperty("checksums", out JsonElement checksums))
            {
                result.Add(checksums.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!));
            }
        }
        return result;
    }

    // tshark with checksum validation on and IP reassembly off: the outer (first) occurrence of each status field.
    private static List<Dictionary<string, string>> TsharkChecksums(string path)
    {
        string[] fields = ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status"];
        string[] names = ["ipv4", "tcp", "udp", "icmp", "icmpv6"];
        var psi = new ProcessStartInfo(CaptureFiles.TsharkPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in (string[])["-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
            "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE", "-T", "fields", "-E", "occurrence=f", "-E", "separator=|"])
        {
            psi.ArgumentList.Add(arg);
        }
        foreach (string field in fields)
        {
            psi.ArgumentList.Add("-e");
            psi.ArgumentList.Add(field);
        }
        using var process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "tshark did not finish");
        Assert.True(process.ExitCode == 0, $"tshark failed: {stderr.Result}");
        var result = new List<Dictionary<string, string>>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] values = line.Split('|');
            var verdicts = new Dictionary<string, string>();
            for (int i = 0; i < names.Length && i < values.Length; i++)
            {
                string? verdict = values[i].Trim() switch { "1" => "good", "0" => "bad", "2" => "unverified", _ => null };
                if (verdict is not null)
                {
                    verdicts[names[i]] = verdict;
                }
            }
            result.Add(verdicts);
        }
        return result;
    }
}
