// The pcap dissector behind `netstack pcap check`: reads a pcap or pcapng capture with SharpPcap (libpcap) and
// writes one JSON line per packet (index, layers, first error, checksum verdicts), then a summary line. Bad packets
// are findings, not failures: the result is 0 unless the file cannot be read (1).
using System.Buffers;
using System.Text.Json;
using SharpPcap;
using SharpPcap.LibPcap;

namespace NetStack.Link.Capture;

/// <summary>Dissects every packet of a capture file with NetStack's parsers (<see cref="PacketChecker"/>).</summary>
internal static class PcapCheck
{
    /// <summary>Exit status when the capture cannot be opened or read to its end.</summary>
    public const int ReadError = 1;

    /// <summary>Checks the capture at <paramref name="path"/>, writing JSON lines to <paramref name="output"/>; returns the exit status.</summary>
    public static int Run(string path, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        CaptureFileReaderDevice reader;
        try
        {
            reader = new CaptureFileReaderDevice(path);
            reader.Open(new DeviceConfiguration());
        }
        catch (Exception e) when (e is PcapException or IOException or UnauthorizedAccessException or DllNotFoundException or ArgumentException)
        {
            error.WriteLine($"netstack pcap check: cannot read {path}: {e.Message}");
            return ReadError;
        }
        using (reader)
        {
            var summary = new Summary();
            var report = new PacketReport();
            var buffer = new ArrayBufferWriter<byte>(4096);
            using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false });
            int linkType = (int)reader.LinkType;
            string? readError = null;
            long index = 0;
            while (true)
            {
                GetPacketStatus status;
                PacketCapture capture;
                try
                {
                    status = reader.GetNextPacket(out capture);
                }
                catch (PcapException e)
                {
                    readError = e.Message;
                    break;
                }
                if (status == GetPacketStatus.NoRemainingPackets)
                {
                    break;
                }
                if (status != GetPacketStatus.PacketRead)
                {
                    readError = status == GetPacketStatus.Error ? reader.LastError : status.ToString();
                    break;
                }
                index++;
                ReadOnlySpan<byte> data = capture.Data;
                int wireLength = capture.Header is PcapHeader header ? (int)Math.Min(int.MaxValue, header.PacketLength) : data.Length;
                PacketChecker.Check(linkType, data, wireLength, report);
                summary.Add(report);
                WritePacket(json, index, linkType, data.Length, wireLength, report);
                Flush(json, buffer, output);
            }
            WriteSummary(json, path, summary, index, readError);
            Flush(json, buffer, output);
            if (readError is not null)
            {
                error.WriteLine($"netstack pcap check: {path}: read error after {index} packet(s): {readError}");
                return ReadError;
            }
            return 0;
        }
    }

    internal static void WritePacket(Utf8JsonWriter json, long index, int linkType, int captured, int wireLength, PacketReport report)
    {
        json.WriteStartObject();
        json.WriteNumber("index", index);
        json.WriteString("link", PacketChecker.LinkName(linkType));
        json.WriteNumber("captured", captured);
        json.WriteNumber("length", wireLength);
        json.WriteStartArray("layers");
        foreach (string layer in report.Layers)
        {
            json.WriteStringValue(layer);
        }
        json.WriteEndArray();
        if (report.Error is null)
        {
            json.WriteNull("error");
        }
        else
        {
            json.WriteStartObject("error");
            json.WriteString("layer", report.ErrorLayer);
            json.WriteString("kind", report.Error);
            json.WriteEndObject();
        }
        json.WriteStartObject("checksums");
        foreach ((string name, ChecksumVerdict verdict) in report.Checksums)
        {
            json.WriteString(name, VerdictName(verdict));
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteSummary(Utf8JsonWriter json, string path, Summary summary, long packets, string? readError)
    {
        json.WriteStartObject();
        json.WriteStartObject("summary");
        json.WriteString("file", path);
        json.WriteNumber("packets", packets);
        json.WriteNumber("clean", summary.Clean);
        json.WriteNumber("with_error", summary.WithError);
        WriteCounts(json, "errors", summary.Errors);
        WriteCounts(json, "layers", summary.Layers);
        json.WriteStartObject("checksums");
        foreach ((string name, Dictionary<string, long> verdicts) in summary.Checksums.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            WriteCounts(json, name, verdicts);
        }
        json.WriteEndObject();
        if (readError is null)
        {
            json.WriteNull("read_error");
        }
        else
        {
            json.WriteString("read_error", readError);
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteCounts(Utf8JsonWriter json, string name, Dictionary<string, long> counts)
    {
        json.WriteStartObject(name);
        foreach ((string key, long count) in counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            json.WriteNumber(key, count);
        }
        json.WriteEndObject();
    }

    private static void Flush(Utf8JsonWriter json, ArrayBufferWriter<byte> buffer, TextWriter output)
    {
        json.Flush();
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        buffer.ResetWrittenCount();
        json.Reset();
    }

    /// <summary>The JSON name of a verdict.</summary>
    public static string VerdictName(ChecksumVerdict verdict) => verdict switch
    {
        ChecksumVerdict.Good => "good",
        ChecksumVerdict.Bad => "bad",
        ChecksumVerdict.None => "none",
        ChecksumVerdict.ZeroOverIpv6 => "zero_over_ipv6",
        _ => "unverified",
    };

    private sealed class Summary
    {
        public long Clean { get; private set; }

        public long WithError { get; private set; }

        public Dictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> Layers { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, Dictionary<string, long>> Checksums { get; } = new(StringComparer.Ordinal);

        public void Add(PacketReport report)
        {
            if (report.Error is null)
            {
                Clean++;
            }
            else
            {
                WithError++;
                Bump(Errors, $"{report.ErrorLayer}.{report.Error}");
            }
            foreach (string layer in report.Layers)
            {
                Bump(Layers, layer);
            }
            foreach ((string name, ChecksumVerdict verdict) in report.Checksums)
            {
                if (!Checksums.TryGetValue(name, out Dictionary<string, long>? verdicts))
                {
                    Checksums[name] = verdicts = new(StringComparer.Ordinal);
                }
                Bump(verdicts, VerdictName(verdict));
            }
        }

        private static void Bump(Dictionary<string, long> counts, string key) =>
            counts[key] = counts.TryGetValue(key, out long n) ? n + 1 : 1;
    }
}
