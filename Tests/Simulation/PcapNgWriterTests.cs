// The managed pcapng capture: its blocks parsed here by hand (no libpcap involved), tshark reading the same file,
// and byte-identical captures from ten runs of one seeded virtual-time scenario.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using NetStack.Link.Simulation;
using NetStack.Simulation;

namespace NetStack.Tests.Simulation;

public class PcapNgWriterTests
{
    /// <summary>
    /// Two hosts over a lossy, jittery, reordering link move 64 KiB each way on stream sockets, captured to
    /// <paramref name="path"/>; the run must have lost and reordered packets and retransmitted TCP segments.
    /// </summary>
    private static async Task ScenarioAsync(string path, int seed)
    {
        await using var net = new VirtualNetwork(new VirtualNetworkOptions { Seed = seed, Time = NetworkTime.Virtual, CapturePath = path });
        VirtualHost client = net.AddHost("client"), server = net.AddHost("server");
        client.Link.Set(new ImpairmentOptions
        {
            LossPercent = 2,
            Delay = TimeSpan.FromMilliseconds(10),
            Jitter = TimeSpan.FromMilliseconds(3),
            DelayDistribution = DelayDistribution.Normal,
            ReorderPercent = 3,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(5),
        });
        await net.RunAsync(async () =>
        {
            VirtualListener listener = server.Listen(80);
            Stream c = await client.ConnectAsync("server", 80);
            Stream s = await listener.AcceptAsync();
            byte[] data = new byte[64 * 1024];
            new Random(seed).NextBytes(data);
            await c.WriteAsync(data);
            byte[] got = new byte[data.Length];
            await s.ReadExactlyAsync(got);
            await s.WriteAsync(got);
            await c.ReadExactlyAsync(got);
            Assert.Equal(data, got);
            await c.DisposeAsync();
            await s.DisposeAsync();
            await net.Delay(TimeSpan.FromSeconds(1));
        });
        ImpairmentStage outbound = client.Link.OutboundStage!, inbound = client.Link.InboundStage!;
        HostSummary c = client.Summary(), s = server.Summary();
        Assert.True(outbound.DroppedLoss + inbound.DroppedLoss > 0, net.Summary());
        Assert.True(outbound.Reordered + inbound.Reordered > 0, net.Summary());
        Assert.True(c.FastRetransmits + c.RetransmissionTimeouts + s.FastRetransmits + s.RetransmissionTimeouts > 0, net.Summary());
    }

    [Fact(Timeout = 120_000)]
    public async Task Capture_SameSeed_TenRuns_AreByteIdentical_AndAnotherSeedDiffers()
    {
        string dir = Directory.CreateTempSubdirectory("netstack-determinism").FullName;
        try
        {
            var hashes = new HashSet<string>();
            for (int run = 0; run < 10; run++)
            {
                string path = Path.Combine(dir, $"run{run}.pcapng");
                await ScenarioAsync(path, seed: 42);
                hashes.Add(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))));
            }
            Assert.Single(hashes);
            string other = Path.Combine(dir, "other.pcapng");
            await ScenarioAsync(other, seed: 43);
            Assert.DoesNotContain(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(other))), hashes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Capture_Blocks_AreASectionAnInterfacePerLinkNamedInItsDescription_AndPacketsWithTheirDirection()
    {
        string path = Path.GetTempFileName();
        try
        {
            await ScenarioAsync(path, seed: 1);
            byte[] file = File.ReadAllBytes(path);
            var interfaces = new List<string>();
            int packets = 0, inbound = 0, outbound = 0;
            for (int at = 0; at < file.Length;)
            {
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at));
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 4));
                Assert.Equal((uint)length, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + length - 4))); // trailing length
                Assert.Equal(0, length % 4);
                if (at == 0)
                {
                    Assert.Equal(0x0A0D0D0Au, type);
                    Assert.Equal(0x1A2B3C4Du, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8)));
                }
                else if (type == 1)
                {
                    Assert.Equal(101, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(at + 8))); // LINKTYPE_RAW
                    interfaces.Add(Options(file.AsSpan(at + 16, length - 20))[3]);
                }
                else if (type == 6)
                {
                    packets++;
                    int captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 20));
                    Assert.Equal(4, file[at + 28] >> 4); // an IPv4 header first
                    string flags = Options(file.AsSpan(at + 28 + ((captured + 3) & ~3), length - 32 - ((captured + 3) & ~3)))[2];
                    uint direction = BinaryPrimitives.ReadUInt32LittleEndian(Encoding.Latin1.GetBytes(flags)) & 3;
                    inbound += direction == 1 ? 1 : 0;
                    outbound += direction == 2 ? 1 : 0;
                }
                at += length;
            }
            Assert.Equal(["client on subnet default: 10.0.0.1, fd00::1", "server on subnet default: 10.0.0.2, fd00::2"], interfaces);
            Assert.True(packets > 100);
            Assert.Equal(packets, inbound + outbound);
            Assert.True(inbound < outbound, "2 % loss: some packets sent never arrive");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [SkippableFact(Timeout = 60_000)]
    public async Task Capture_TsharkReadsIt_WithTheLinkNames_AndNoError()
    {
        Skip.IfNot(File.Exists("/usr/bin/tshark"), "tshark is not installed");
        string path = Path.GetTempFileName();
        try
        {
            await ScenarioAsync(path, seed: 1);
            var info = new ProcessStartInfo("tshark", ["-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.interface_description", "-e", "tcp.dstport"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.Environment["HOME"] = Path.GetTempPath();
            using Process tshark = Process.Start(info)!;
            Task<string> error = tshark.StandardError.ReadToEndAsync();
            string[] lines = (await tshark.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            await tshark.WaitForExitAsync();
            Assert.True(tshark.ExitCode == 0, await error);
            Assert.Contains(lines, l => l.StartsWith("client@default\tclient on subnet default", StringComparison.Ordinal) && l.EndsWith("\t80", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("server@default\tserver on subnet default", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [SkippableFact(Timeout = 120_000)]
    public async Task Capture_InAProcessWithLibpcapHidden_IsWrittenAndTsharkReadsIt()
    {
        // A child process in its own mount namespace, every libpcap file bind-mounted over by /dev/null: it cannot load
        // libpcap at all, writes a capture through the harness, and checks /proc/self/maps (Tests/CaptureProbe).
        Skip.IfNot(OperatingSystem.IsLinux() && Environment.UserName == "root", "needs root for a mount namespace");
        Skip.IfNot(File.Exists("/usr/bin/tshark") && File.Exists("/usr/bin/unshare"), "tshark or unshare is not installed");
        string probe = Path.Combine(AppContext.BaseDirectory, "NetStack.Tests.CaptureProbe.dll");
        string path = Path.GetTempFileName();
        try
        {
            const string hide = "for f in $(/sbin/ldconfig -p | awk '/libpcap/ {print $NF}'); do mount --bind /dev/null \"$(readlink -f \"$f\")\" || exit 9; done; "
                + "exec dotnet \"$0\" \"$1\"";
            (int exit, string output) = await RunAsync("unshare", ["-m", "--", "sh", "-c", hide, probe, path]);
            Assert.True(exit == 0, output);
            Assert.Contains("libpcap-mapped=False libpcap-loadable=False", output, StringComparison.Ordinal);
            (int tsharkExit, string packets) = await RunAsync("tshark", ["-r", path, "-T", "fields", "-e", "tcp.dstport"]);
            Assert.True(tsharkExit == 0, packets);
            Assert.Contains("80", packets.Split('\n', StringSplitOptions.TrimEntries));
        }
        finally
        {
            File.Delete(path);
        }

        static async Task<(int Exit, string Output)> RunAsync(string file, string[] arguments)
        {
            var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
            info.Environment["HOME"] = Path.GetTempPath();
            using Process process = Process.Start(info)!;
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output + await error);
        }
    }

    [Fact]
    public void Writer_IsManaged_TheHarnessReferencesNoCaptureLibrary()
    {
        string[] references = [.. typeof(PcapNgWriter).Assembly.GetReferencedAssemblies().Select(a => a.Name!)];
        Assert.DoesNotContain(references, r => r.Contains("Pcap", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A block's options by code (the last of a code wins), values as Latin-1 text.</summary>
    private static Dictionary<int, string> Options(ReadOnlySpan<byte> options)
    {
        var found = new Dictionary<int, string>();
        for (int at = 0; at + 4 <= options.Length;)
        {
            int code = BinaryPrimitives.ReadUInt16LittleEndian(options[at..]);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(options[(at + 2)..]);
            if (code == 0)
            {
                break;
            }
            found[code] = Encoding.Latin1.GetString(options.Slice(at + 4, length));
            at += 4 + ((length + 3) & ~3);
        }
        return found;
    }
}
