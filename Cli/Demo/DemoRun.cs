// netstack demo: one run, start to report, on NetStack (the default), on the kernel's sockets (--kernel), or both in
// one process with their ratio (--compare). Exit code 0 only when every body's SHA-256 matched.
using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace NetStack.Cli.Demo;

/// <summary>Where the demo runs.</summary>
internal enum DemoMode
{
    /// <summary>Two NetStack stacks in one process (the default).</summary>
    Stack,
    /// <summary>The kernel's sockets over 127.0.0.1: the same work without NetStack.</summary>
    Kernel,
    /// <summary>Both, NetStack first, then the ratio of every figure.</summary>
    Compare,
}

/// <summary>The figures of one run.</summary>
internal sealed record DemoReport(string Target, IReadOnlyList<TransferResult> Transfers, double AllocatedPerMiB, double Cores, double KeepAliveRps, double CloseRps)
{
    public bool Matched => Transfers.All(t => t.Matched);

    public TransferResult? Transfer(string name) => Transfers.FirstOrDefault(t => t.Name == name);
}

internal static class DemoRun
{
    /// <summary>The line a run prints when every body checked out (the demo's test looks for it).</summary>
    public const string AllMatched = "every SHA-256 matched";

    public static async Task<int> RunAsync(DemoOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var reports = new List<DemoReport>();
        if (options.Mode is DemoMode.Stack or DemoMode.Compare)
        {
            await using var stack = new StackDemoTarget(options.Network);
            reports.Add(await RunOnceAsync(stack, options, output, cancellationToken).ConfigureAwait(false));
        }
        if (options.Mode is DemoMode.Kernel or DemoMode.Compare)
        {
            if (options.Mode == DemoMode.Compare)
            {
                output.WriteLine();
            }
            await using var kernel = new KernelDemoTarget();
            reports.Add(await RunOnceAsync(kernel, options, output, cancellationToken).ConfigureAwait(false));
        }
        if (reports.Count == 2)
        {
            output.WriteLine();
            PrintComparison(output, reports[0], reports[1]);
        }
        bool ok = reports.TrueForAll(r => r.Matched);
        int bodies = reports.Sum(r => r.Transfers.Count);
        output.WriteLine(ok
            ? string.Create(CultureInfo.InvariantCulture, $"{AllMatched} ({bodies} {(bodies == 1 ? "body" : "bodies")})")
            : "FAILED: a body's SHA-256 or length did not match");
        return ok ? 0 : 1;
    }

    /// <summary>An HttpClient for the demo's server: no timeout (a 1 GiB body takes what it takes), the exact version asked.</summary>
    public static HttpClient CreateClient(HttpMessageHandler handler, Uri baseAddress, bool http2) => new(handler, disposeHandler: false)
    {
        BaseAddress = baseAddress,
        Timeout = Timeout.InfiniteTimeSpan,
        DefaultRequestVersion = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static async Task<DemoReport> RunOnceAsync(IDemoTarget target, DemoOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        output.WriteLine(target.Describe(options));
        using HttpClient client = await target.StartAsync(options, cancellationToken).ConfigureAwait(false);
        _ = await client.GetStringAsync("hello", cancellationToken).ConfigureAwait(false); // connect and warm up
        // The expected digests, from the pattern, before any clock starts: inside a transfer the one SHA-256 pass
        // is the receiver's over what arrived (hashing on the sender too would only measure SHA-256 twice).
        var digestWatch = Stopwatch.StartNew();
        foreach (long size in new[] { options.DownloadBytes, options.UploadBytes, options.RawTcpBytes })
        {
            _ = DemoPattern.Digest(size);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"expected SHA-256 digests of the bodies computed from the pattern in {digestWatch.Elapsed.TotalSeconds:F2} s (before the clocks start)"));

        var results = new List<TransferResult>();
        var progress = new TransferProgress();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        if (options.DownloadBytes > 0)
        {
            results.Add(await WithProgressAsync("download", options.DownloadBytes, progress, options.Progress, output,
                () => DemoTransfers.DownloadAsync(client, options.DownloadBytes, progress, cancellationToken)).ConfigureAwait(false));
        }
        if (options.UploadBytes > 0)
        {
            results.Add(await WithProgressAsync("upload", options.UploadBytes, progress, options.Progress, output,
                () => DemoTransfers.UploadAsync(client, options.UploadBytes, progress, cancellationToken)).ConfigureAwait(false));
        }
        TimeSpan bulkWall = wall.Elapsed;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        if (options.RawTcpBytes > 0)
        {
            results.Add(await WithProgressAsync("raw TCP", options.RawTcpBytes, progress, options.Progress, output,
                () => target.RawTcpAsync(options.RawTcpBytes, progress, cancellationToken)).ConfigureAwait(false));
        }
        long moved = options.DownloadBytes + options.UploadBytes;
        foreach (TransferResult r in results)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Name,-9} {FormatBytes(r.Bytes < 0 ? 0 : r.Bytes)} in {r.Elapsed.TotalSeconds:F2} s = {r.GigabitsPerSecond:F2} Gbit/s, SHA-256 {(r.Matched ? "match" : "MISMATCH")} {Short(r.ReceivedHash)}{(r.Matched ? "" : " (sent " + Short(r.SentHash) + ")")}"));
        }
        double perMiB = moved > 0 ? allocated / (moved / 1048576.0) : 0;
        double cores = bulkWall > TimeSpan.Zero ? cpu / bulkWall : 0;
        if (moved > 0)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bulk: {perMiB:N0} B allocated per MiB moved, CPU {cpu.TotalSeconds:F1} s over {bulkWall.TotalSeconds:F1} s wall ({cores:F2} cores)"));
        }
        double keepAlive = 0, close = 0;
        if (options.KeepAliveRequests > 0)
        {
            keepAlive = await DemoTransfers.ShortRequestsAsync(client, options.KeepAliveRequests, close: false, cancellationToken).ConfigureAwait(false);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"short requests: {options.KeepAliveRequests} GETs over keep-alive: {keepAlive:N0} req/s"));
        }
        if (options.CloseRequests > 0 && !options.Http2)
        {
            close = await DemoTransfers.ShortRequestsAsync(client, options.CloseRequests, close: true, cancellationToken).ConfigureAwait(false);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"short requests: {options.CloseRequests} GETs with Connection: close (new TCP connection each): {close:N0} req/s"));
        }
        target.PrintDetails(output);
        return new DemoReport(target.Name, results, perMiB, cores, keepAlive, close);
    }

    /// <summary>The two runs side by side, each figure of NetStack over the kernel's (above 1: NetStack does better).</summary>
    private static void PrintComparison(TextWriter output, DemoReport ours, DemoReport kernel)
    {
        output.WriteLine("comparison (same work, same process; ratio = netstack ÷ kernel, higher is better for netstack):");
        foreach (string name in new[] { "download", "upload", "raw TCP" })
        {
            if (ours.Transfer(name) is { } a && kernel.Transfer(name) is { } b)
            {
                Row(output, name + " Gbit/s", a.GigabitsPerSecond, b.GigabitsPerSecond, higherIsBetter: true);
            }
        }
        if (ours.KeepAliveRps > 0 && kernel.KeepAliveRps > 0)
        {
            Row(output, "keep-alive req/s", ours.KeepAliveRps, kernel.KeepAliveRps, higherIsBetter: true);
        }
        if (ours.CloseRps > 0 && kernel.CloseRps > 0)
        {
            Row(output, "close req/s", ours.CloseRps, kernel.CloseRps, higherIsBetter: true);
        }
        Row(output, "CPU cores (bulk)", ours.Cores, kernel.Cores, higherIsBetter: false);
    }

    private static void Row(TextWriter output, string what, double ours, double kernel, bool higherIsBetter)
    {
        double ratio = higherIsBetter ? ours / kernel : kernel / ours;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what,-18} netstack {ours,10:N2}   kernel {kernel,10:N2}   ratio {ratio:F2}x"));
    }

    private static async Task<TransferResult> WithProgressAsync(string name, long total, TransferProgress progress, bool draw, TextWriter output, Func<Task<TransferResult>> transfer)
    {
        progress.Reset();
        using var stop = new CancellationTokenSource();
        Task drawing = draw ? DrawAsync(name, total, progress, output, stop.Token) : Task.CompletedTask;
        try
        {
            return await transfer().ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await drawing.ConfigureAwait(false);
        }
    }

    private static async Task DrawAsync(string name, long total, TransferProgress progress, TextWriter output, CancellationToken stop)
    {
        var watch = Stopwatch.StartNew();
        long lastBytes = 0;
        TimeSpan lastTime = TimeSpan.Zero;
        try
        {
            while (true)
            {
                await Task.Delay(500, stop).ConfigureAwait(false);
                long bytes = progress.Bytes;
                TimeSpan now = watch.Elapsed;
                double rate = (bytes - lastBytes) * 8 / (now - lastTime).TotalSeconds / 1e9;
                lastBytes = bytes;
                lastTime = now;
                output.Write(string.Create(CultureInfo.InvariantCulture, $"\r  {name,-9} {FormatBytes(bytes),10} / {FormatBytes(total)}  {100.0 * bytes / total,5:F1} %  {rate,6:F2} Gbit/s   "));
            }
        }
        catch (OperationCanceledException)
        {
            output.Write("\r" + new string(' ', 72) + "\r");
        }
    }

    private static string Short(string hash) => hash.Length > 16 ? hash[..16] + "…" : hash;

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
