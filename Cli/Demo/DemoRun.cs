// netstack demo: one run, start to report. Exit code 0 only when every body's SHA-256 matched.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using NetStack.Cli.Serve;
using NetStack.Gro;
using NetStack.Http;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Tcp;

namespace NetStack.Cli.Demo;

internal static class DemoRun
{
    /// <summary>The line a run prints when every body checked out (the demo's test looks for it).</summary>
    public const string AllMatched = "every SHA-256 matched";

    public static async Task<int> RunAsync(DemoOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        DemoNetworkOptions net = options.Network;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"netstack demo: Kestrel on 10.0.0.2:80 ⇄ HttpClient on 10.0.0.1, two stacks in one process on an in-memory network"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {(options.Http2 ? "HTTP/2 (h2c)" : "HTTP/1.1")}, GRO {(net.Gro ? $"on ({net.GroMaxFlows} flows)" : "off")}, GSO {net.Gso}, {(net.Connection?.CongestionControl ?? NetStack.Tcp.Congestion.TcpCongestionControl.Cubic)}, loss {net.LossPercent} %, delay {net.Delay.TotalMilliseconds} ms, reorder {net.ReorderPercent} %, seed {net.Seed}{(net.PcapPath is null ? "" : ", capture → " + net.PcapPath)}"));

        await using var network = new DemoNetwork(net);
        await using var server = new HttpService();
        await server.StartAsync(network.Server, 80, protocols: options.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1, cancellationToken: cancellationToken).ConfigureAwait(false);
        var clientConnections = new ConcurrentQueue<TcpConnection>();
        using var handler = NetStackHttp.CreateHandler(network.Client);
        var connect = handler.ConnectCallback!;
        handler.ConnectCallback = async (context, token) =>
        {
            Stream stream = await connect(context, token).ConfigureAwait(false);
            clientConnections.Enqueue((TcpConnection)stream);
            return stream;
        };
        using var client = new HttpClient(handler)
        {
            BaseAddress = new Uri("http://10.0.0.2/"),
            Timeout = Timeout.InfiniteTimeSpan,
            DefaultRequestVersion = options.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
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
                () => DemoRawTcp.TransferAsync(network, options.RawTcpBytes, progress, cancellationToken)).ConfigureAwait(false));
        }
        long moved = options.DownloadBytes + options.UploadBytes;

        foreach (TransferResult r in results)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Name,-9} {FormatBytes(r.Bytes < 0 ? 0 : r.Bytes)} in {r.Elapsed.TotalSeconds:F2} s = {r.GigabitsPerSecond:F2} Gbit/s, SHA-256 {(r.Matched ? "match" : "MISMATCH")} {Short(r.ReceivedHash)}{(r.Matched ? "" : " (sent " + Short(r.SentHash) + ")")}"));
        }
        if (moved > 0)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bulk: {allocated / (moved / 1048576.0):N0} B allocated per MiB moved, CPU {cpu.TotalSeconds:F1} s over {bulkWall.TotalSeconds:F1} s wall ({cpu / bulkWall:F2} cores)"));
        }
        if (options.KeepAliveRequests > 0)
        {
            double rps = await DemoTransfers.ShortRequestsAsync(client, options.KeepAliveRequests, close: false, cancellationToken).ConfigureAwait(false);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"short requests: {options.KeepAliveRequests} GETs over keep-alive: {rps:N0} req/s"));
        }
        if (options.CloseRequests > 0 && !options.Http2)
        {
            double rps = await DemoTransfers.ShortRequestsAsync(client, options.CloseRequests, close: true, cancellationToken).ConfigureAwait(false);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"short requests: {options.CloseRequests} GETs with Connection: close (new TCP connection each): {rps:N0} req/s"));
        }

        TcpConnection? bulkClient = clientConnections.OrderByDescending(c => c.GetStatistics().BytesReceived + c.GetStatistics().BytesSent).FirstOrDefault();
        PrintTcp(output, "client", bulkClient?.GetStatistics());
        PrintTcp(output, "server", server.LastBulkConnection?.GetStatistics());
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TCP connections opened by the client: {clientConnections.Count}; client drops: {Nz(network.ClientTcp.Drops.ToString())}; server drops: {Nz(network.ServerTcp.Drops.ToString())}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"link queue full (segments lost before the wire): client {network.ClientTcp.Events[TcpEvent.LinkQueueFull]:N0}, server {network.ServerTcp.Events[TcpEvent.LinkQueueFull]:N0}"));
        PrintGro(output, "client", network.ClientLink);
        PrintGro(output, "server", network.ServerLink);
        if (network.Options.Impairment is not null)
        {
            output.WriteLine($"wire: client→server {Wire(network.ClientHost.OutboundImpairment)}; server→client {Wire(network.ServerHost.OutboundImpairment)}");
        }
        if (network.Capture is { } capture)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"capture: {capture.Captured:N0} packets → {capture.Path} (dropped: {capture.DroppedQueueFull:N0} queue full)"));
        }

        bool ok = results.TrueForAll(r => r.Matched);
        output.WriteLine(ok
            ? string.Create(CultureInfo.InvariantCulture, $"{AllMatched} ({results.Count} bodies)")
            : "FAILED: a body's SHA-256 or length did not match");
        return ok ? 0 : 1;
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

    private static void PrintTcp(TextWriter output, string side, TcpConnectionStatistics? s)
    {
        if (s is null)
        {
            return;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TCP {side}: SRTT {s.SmoothedRtt.TotalMilliseconds:F3} ms (var {s.RttVariance.TotalMilliseconds:F3}), MSS {s.MaxSegmentSize}, cwnd {s.CongestionWindow:N0} B, segments out {s.SegmentsSent:N0} / in {s.SegmentsReceived:N0}, retransmits {s.Retransmissions:N0} ({FormatBytes(s.BytesRetransmitted)}), fast retransmits {s.FastRetransmits:N0}, timeouts {s.Timeouts:N0}, SACK {(s.Sack ? "on" : "off")}"));
    }

    private static void PrintGro(TextWriter output, string side, ChannelEndpoint link)
    {
        if (link.Gro is not { } gro)
        {
            return;
        }
        long input = gro.Events[GroEvent.PacketsIn];
        long delivered = gro.Events[GroEvent.SuperSegmentsOut] + gro.Events[GroEvent.SinglesOut] + gro.Events[GroEvent.PassThrough];
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GRO {side}: {input:N0} packets in → {delivered:N0} delivered ({(delivered == 0 ? 0 : (double)input / delivered):F1} per delivery), {gro.Events[GroEvent.SuperSegmentsOut]:N0} super-segments; flushes: {Nz(gro.Flushes.ToString())}"));
    }

    private static string Wire(ImpairmentStage? stage) => stage is null ? "clean" : string.Create(CultureInfo.InvariantCulture,
        $"{stage.Received:N0} packets, lost {stage.DroppedLoss:N0}, reordered {stage.Reordered:N0}, queue-full drops {stage.DroppedQueueFull:N0}");

    private static string Nz(string? s) => string.IsNullOrEmpty(s) ? "none" : s;

    private static string Short(string hash) => hash.Length > 16 ? hash[..16] + "…" : hash;

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
