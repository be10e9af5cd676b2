// netstack demo: the command line (sizes, impairments, capture) and the run: Kestrel on one stack, HttpClient on
// the other, a download and an upload verified by SHA-256, short requests, then throughput, RTT, retransmits and
// GRO figures.
using System.CommandLine;
using System.Globalization;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Tcp;
using NetStack.Tcp.Congestion;

namespace NetStack.Cli.Demo;

/// <summary>What one demo run does.</summary>
internal sealed record DemoOptions
{
    public long DownloadBytes { get; init; } = 1L << 30;
    public long UploadBytes { get; init; } = 1L << 30;
    public int KeepAliveRequests { get; init; } = 2000;
    public int CloseRequests { get; init; } = 200;
    public bool Http2 { get; init; }
    public long RawTcpBytes { get; init; }
    public bool Progress { get; init; } = true;
    public DemoMode Mode { get; init; } = DemoMode.Stack;
    public DemoNetworkOptions Network { get; init; } = new();
}

internal static class DemoCommand
{
    /// <summary>The <c>demo</c> subcommand.</summary>
    public static Command Create()
    {
        var download = new Option<string>("--download") { Description = "Download size (bytes, or with K/M/G suffix: KiB/MiB/GiB).", DefaultValueFactory = _ => "1G" };
        var upload = new Option<string>("--upload") { Description = "Upload size (bytes, or with K/M/G suffix).", DefaultValueFactory = _ => "1G" };
        var requests = new Option<int>("--requests") { Description = "Short GETs over one keep-alive connection.", DefaultValueFactory = _ => 2000 };
        var closeRequests = new Option<int>("--close-requests") { Description = "Short GETs with Connection: close (a new TCP connection each).", DefaultValueFactory = _ => 200 };
        var http2 = new Option<bool>("--http2") { Description = "HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1." };
        var loss = new Option<double>("--loss") { Description = "Percent of packets lost each way." };
        var delay = new Option<double>("--delay") { Description = "One-way delay in milliseconds." };
        var reorder = new Option<double>("--reorder") { Description = "Percent of packets held back 1 ms (reordered)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the impairments.", DefaultValueFactory = _ => 1 };
        var pcap = new Option<string?>("--pcap") { Description = "Capture the client's side into this pcap file (raw IP)." };
        var snaplen = new Option<int>("--pcap-snaplen") { Description = "Bytes kept of each captured packet (headers by default).", DefaultValueFactory = _ => 128 };
        var gso = new Option<GsoSupport>("--gso") { Description = "GSO the links offer: Host, Software or None.", DefaultValueFactory = _ => GsoSupport.Host };
        var groFlows = new Option<int>("--gro-flows") { Description = "Flows GRO holds at once.", DefaultValueFactory = _ => 64 };
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not draw the progress line." };
        var noGro = new Option<bool>("--no-gro") { Description = "Turn GRO off on both links (for comparison)." };
        var tcpBuffer = new Option<string>("--tcp-buffer") { Description = "TCP send and receive buffer per connection (0: the stack's default).", DefaultValueFactory = _ => "0" };
        var cc = new Option<TcpCongestionControl>("--cc") { Description = "Congestion control of every connection: Cubic (RFC 9438 with HyStart++) or NewReno.", DefaultValueFactory = _ => TcpCongestionControl.Cubic };
        var kernel = new Option<bool>("--kernel") { Description = "Run the same work on the kernel's sockets over 127.0.0.1 instead (the same-work baseline)." };
        var compare = new Option<bool>("--compare") { Description = "Run on NetStack, then on the kernel's sockets, and print every figure's ratio." };
        var raw = new Option<string>("--raw-tcp") { Description = "Also send this many bytes over a bare TcpConnection (no HTTP) as a same-run baseline.", DefaultValueFactory = _ => "0" };
        var command = new Command("demo", "Kestrel on one stack, HttpClient on another, in one process over an in-memory network (GRO on): download and upload with SHA-256 checks, short requests, throughput, RTT, retransmits and GRO figures; --kernel does the same work on the kernel's sockets, --compare both with their ratio.")
        {
            download, upload, requests, closeRequests, http2, loss, delay, reorder, seed, pcap, snaplen, gso, groFlows, noProgress, raw, tcpBuffer, noGro, cc, kernel, compare,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(kernel) && r.GetValue(compare))
            {
                r.AddError("--kernel and --compare: choose one (--compare runs both).");
            }
            bool impaired = r.GetValue(loss) != 0 || r.GetValue(delay) != 0 || r.GetValue(reorder) != 0 || r.GetValue(pcap) is not null;
            if (r.GetValue(kernel) && impaired)
            {
                r.AddError("--kernel runs on the kernel's loopback: --loss, --delay, --reorder and --pcap apply to NetStack's in-memory network only.");
            }
        });
        foreach (Option<string> size in new[] { download, upload, raw, tcpBuffer })
        {
            size.Validators.Add(r =>
            {
                if (!TryParseSize(r.GetValueOrDefault<string>(), out _))
                {
                    r.AddError($"{size.Name}: a size such as 1048576, 64K, 100M or 1G.");
                }
            });
        }
        foreach (Option<double> percent in new[] { loss, reorder })
        {
            percent.Validators.Add(r =>
            {
                double v = r.GetValueOrDefault<double>();
                if (!(v >= 0 && v <= 100))
                {
                    r.AddError($"{percent.Name} must be between 0 and 100.");
                }
            });
        }
        delay.Validators.Add(r =>
        {
            if (!(r.GetValueOrDefault<double>() >= 0))
            {
                r.AddError("--delay must not be negative.");
            }
        });
        snaplen.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 40 || v > PcapWriterOptions.MaxSnapshotLength)
            {
                r.AddError($"--pcap-snaplen must be between 40 and {PcapWriterOptions.MaxSnapshotLength}.");
            }
        });
        requests.Validators.Add(r => NotNegative(r, "--requests"));
        closeRequests.Validators.Add(r => NotNegative(r, "--close-requests"));
        groFlows.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--gro-flows must be at least 1.");
            }
        });
        command.SetAction((result, cancellationToken) =>
        {
            TryParseSize(result.GetValue(download), out long down);
            TryParseSize(result.GetValue(upload), out long up);
            TryParseSize(result.GetValue(raw), out long rawBytes);
            TryParseSize(result.GetValue(tcpBuffer), out long buffer);
            var options = new DemoOptions
            {
                DownloadBytes = down,
                UploadBytes = up,
                KeepAliveRequests = result.GetValue(requests),
                CloseRequests = result.GetValue(closeRequests),
                Http2 = result.GetValue(http2),
                RawTcpBytes = rawBytes,
                Progress = !result.GetValue(noProgress) && !Console.IsOutputRedirected,
                Mode = result.GetValue(compare) ? DemoMode.Compare : result.GetValue(kernel) ? DemoMode.Kernel : DemoMode.Stack,
                Network = new DemoNetworkOptions
                {
                    LossPercent = result.GetValue(loss),
                    Delay = TimeSpan.FromMilliseconds(result.GetValue(delay)),
                    ReorderPercent = result.GetValue(reorder),
                    Seed = result.GetValue(seed),
                    PcapPath = result.GetValue(pcap),
                    PcapSnapshotLength = result.GetValue(snaplen),
                    Gso = result.GetValue(gso),
                    GroMaxFlows = result.GetValue(groFlows),
                    Gro = !result.GetValue(noGro),
                    Connection = ConnectionOptions(buffer, result.GetValue(cc)),
                },
            };
            return DemoRun.RunAsync(options, Console.Out, cancellationToken);
        });
        return command;
    }

    private static TcpConnectionOptions? ConnectionOptions(long buffer, TcpCongestionControl cc)
    {
        var options = new TcpConnectionOptions { CongestionControl = cc };
        if (buffer != 0)
        {
            int size = (int)Math.Min(buffer, 1 << 30);
            options = options with { SendBufferSize = size, ReceiveBufferSize = size };
        }
        return buffer == 0 && cc == TcpCongestionControl.Cubic ? null : options;
    }

    /// <summary>Parses 1048576, 64K, 100M, 1G (binary multiples).</summary>
    internal static bool TryParseSize(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        text = text.Trim();
        long multiplier = char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 1L << 10,
            'M' => 1L << 20,
            'G' => 1L << 30,
            _ => 1,
        };
        string number = multiplier == 1 ? text : text[..^1];
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= 0) || value * multiplier > 1L << 40)
        {
            return false;
        }
        bytes = (long)(value * multiplier);
        return true;
    }

    private static void NotNegative(System.CommandLine.Parsing.OptionResult r, string name)
    {
        if (r.GetValueOrDefault<int>() < 0)
        {
            r.AddError($"{name} must not be negative.");
        }
    }
}
