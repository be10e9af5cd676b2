// Helpers of the capture tests: reading pcap files back (SharpPcap, tshark when installed).
using System.Buffers.Binary;
using System.Diagnostics;
using NetStack.Buffers;
using NetStack.Wire;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace NetStack.Tests.LinkEndpoint.Capture;

/// <summary>Reads pcap files back (SharpPcap and tshark) and provides a temporary file per test.</summary>
internal static class CaptureFiles
{
    public static string TempPath() => Path.Combine(Path.GetTempPath(), $"netstack-capture-{Guid.NewGuid():N}.pcap");

    public static (LinkLayers LinkType, List<Record> Records) Read(string path)
    {
        using var reader = new CaptureFileReaderDevice(path);
        reader.Open(new DeviceConfiguration());
        var records = new List<Record>();
        while (reader.GetNextPacket(out PacketCapture e) == GetPacketStatus.PacketRead)
        {
            var header = (PcapHeader)e.Header;
            records.Add(new Record(e.Data.ToArray(), header.Timeval.Date, header.PacketLength));
        }
        return (reader.LinkType, records);
    }

    /// <summary>The link type stored in the pcap file header (offset 20, in the writer's byte order).</summary>
    public static uint FileHeaderLinkType(string path)
    {
        byte[] header = new byte[24];
        using (var f = File.OpenRead(path))
        {
            f.ReadExactly(header);
        }
        bool littleEndian = BinaryPrimitives.ReadUInt32LittleEndian(header) is 0xA1B2C3D4 or 0xA1B23C4D;
        return littleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(20)) : BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(20));
    }

    internal sealed record Record(byte[] Data, DateTime Timestamp, uint PacketLength);

    public static string? TsharkPath { get; } = FindOnPath("tshark");

    /// <summary>
    /// One line per frame: protocols, then the expert messages tshark raised with checksum validation on and TCP
    /// sequence analysis off (a capture of a few segments would otherwise be full of "previous segment not captured").
    /// </summary>
    public static List<string> Tshark(string path)
    {
        var psi = new ProcessStartInfo(TsharkPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            "-n", "-r", path,
            "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
            "-o", "tcp.analyze_sequence_numbers:FALSE",
            "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.protocols",
            "-e", "_ws.expert.severity", "-e", "_ws.expert.message", "-e", "_ws.malformed",
        })
        {
            psi.ArgumentList.Add(arg);
        }
        using var process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "tshark did not finish");
        Assert.True(process.ExitCode == 0, $"tshark failed: {stderr.Result}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}

/// <summary>A fact that is skipped, with the reason shown in the test report, when tshark is not on PATH.</summary>
internal sealed class TsharkFactAttribute : FactAttribute
{
    public TsharkFactAttribute()
    {
        if (CaptureFiles.TsharkPath is null)
        {
            Skip = "tshark is not on PATH: install it (apt-get install tshark) to check captures for malformed packets.";
        }
    }
}
