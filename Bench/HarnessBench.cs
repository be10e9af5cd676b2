// `Bench harness …`: the test harness's measurements for BENCHMARKS.md — virtual-time speed-up of a long lossy
// transfer, set-up time and memory of many hosts with idle keep-alive connections, HttpClient⇄Kestrel requests
// per second over the harness against the kernel's loopback in the same run.
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Bench;

internal static class HarnessBench
{
    public static int Run(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "";
        double n = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
        switch (what)
        {
            case "speedup":
                SpeedUp(TimeSpan.FromMinutes(n > 0 ? n : 60)).GetAwaiter().GetResult();
                return 0;
            case "hosts":
                Hosts(n > 0 ? (int)n : 1000).GetAwaiter().GetResult();
                return 0;
            case "rps":
                Rps(TimeSpan.FromSeconds(n > 0 ? n : 5)).GetAwaiter().GetResult();
                return 0;
            default:
                Console.Error.WriteLine("usage: Bench harness speedup [virtual minutes] | hosts [count] | rps [seconds]");
                return 2;
        }
    }

    /// <summary>A bulk transfer at 10 Mbit/s, 100 ms RTT, 1 % loss each way, for <paramref name="span"/> of virtual time.</summary>
    private static async Task SpeedUp(TimeSpan span)
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost sender = net.AddHost("sender"), receiver = net.AddHost("receiver");
        var link = new ImpairmentOptions { RateBitsPerSecond = 10_000_000, Delay = TimeSpan.FromMilliseconds(50), LossPercent = 1, QueueLimit = 1000 };
        sender.Link.Outbound = link;
        receiver.Link.Outbound = link with { RateBitsPerSecond = 0 };
        VirtualListener listener = receiver.Listen(5001);
        long received = 0;
        var wall = Stopwatch.StartNew();
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        await net.RunAsync(async () =>
        {
            Stream tx = await sender.ConnectAsync("receiver", 5001);
            Stream rx = await listener.AcceptAsync();
            byte[] chunk = new byte[64 * 1024], sink = new byte[256 * 1024];
            async Task Read()
            {
                int k;
                while ((k = await rx.ReadAsync(sink)) > 0)
                {
                    received += k;
                }
            }
            Task reading = Read();
            while (net.Now < span)
            {
                await tx.WriteAsync(chunk);
            }
            tx.Dispose();
            await reading;
        }, span + TimeSpan.FromMinutes(10));
        wall.Stop();
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        // The driver is one thread: on a loaded machine wall time includes waiting for a core, CPU time does not.
        Console.WriteLine($"harness speedup: {span.TotalSeconds:F0} s virtual in {wall.Elapsed.TotalSeconds:F1} s wall = {span / wall.Elapsed:F0}x " +
            $"({cpu.TotalSeconds:F1} s CPU = {span / cpu:F0}x); {received * 8 / span.TotalSeconds / 1e6:F2} Mbit/s goodput; {net.Hosts[0].Summary()}");
    }

    /// <summary>
    /// <paramref name="count"/> client hosts, each with one idle keep-alive connection to one server: set-up time
    /// (hosts made and every connection accepted) and managed memory per host, then five idle virtual minutes. A
    /// network of ten hosts first pays the JIT's one-time cost (printed as the cold figure), as a test suite's
    /// first network would.
    /// </summary>
    private static async Task Hosts(int count)
    {
        (TimeSpan coldSetUp, _, _) = await HostsOnce(10, quiet: true);
        (TimeSpan setUp, TimeSpan setUpCpu, string line) = await HostsOnce(count, quiet: false);
        Console.WriteLine($"harness hosts: {line}; set-up {setUp.TotalSeconds:F2} s wall ({setUpCpu.TotalSeconds:F2} s CPU) " +
            $"after a 10-host network in a fresh process took {coldSetUp.TotalSeconds:F2} s (JIT)");
    }

    private static async Task<(TimeSpan SetUp, TimeSpan SetUpCpu, string Line)> HostsOnce(int count, bool quiet)
    {
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var wall = Stopwatch.StartNew();
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        await using var net = new VirtualNetwork(new VirtualNetworkOptions { Time = NetworkTime.Virtual, Ipv4Subnet = IPNetwork.Parse("10.0.0.0/16") });
        VirtualHost server = net.AddHost("server");
        VirtualListener listener = server.Listen(80, backlog: count + 1);
        var clients = new VirtualHost[count];
        for (int i = 0; i < count; i++)
        {
            clients[i] = net.AddHost($"c{i}");
        }
        TimeSpan hostsMade = wall.Elapsed;
        var streams = new Stream[2 * count];
        TimeSpan setUp = default, setUpCpu = default;
        await net.RunAsync(async () =>
        {
            // Every client connects at once (as a test's clients would), then the server accepts them all.
            Task<Stream>[] connects = [.. clients.Select(c => c.ConnectAsync("server", 80))];
            for (int i = 0; i < count; i++)
            {
                streams[count + i] = await listener.AcceptAsync();
            }
            for (int i = 0; i < count; i++)
            {
                var s = (VirtualStream)await connects[i];
                s.Connection.KeepAlive = true;
                streams[i] = s;
            }
            setUp = wall.Elapsed;
            setUpCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
            await net.Delay(TimeSpan.FromMinutes(5)); // idle: keep-alive probes only
        });
        TimeSpan idle = wall.Elapsed - setUp;
        long after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(streams);
        string line = $"{count} hosts + 1 server, {count} keep-alive connections ({hostsMade.TotalSeconds:F2} s making hosts), 5 idle virtual minutes in " +
            $"{idle.TotalSeconds:F2} s; managed heap {(after - before) / 1024.0 / (count + 1):F1} KiB per host (stack, link, switch port and both ends of " +
            $"its connection); server {server.Summary()}";
        return quiet ? (setUp, setUpCpu, "") : (setUp, setUpCpu, line);
    }

    /// <summary>Sequential GETs for <paramref name="span"/>: HttpClient ⇄ Kestrel on the harness, then on the kernel's loopback.</summary>
    private static async Task Rps(TimeSpan span)
    {
        double harness, kernel;
        await using (var net = new VirtualNetwork())
        {
            VirtualHost api = net.AddHost("api"), client = net.AddHost("client");
            await api.StartWebApplicationAsync(web => web.MapGet("/", () => "ok"));
            harness = await Requests(client.CreateHttpClient(), "http://api/", span);
        }
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using (WebApplication app = builder.Build())
        {
            app.MapGet("/", () => "ok");
            await app.StartAsync();
            using var http = new HttpClient();
            kernel = await Requests(http, app.Urls.First() + "/", span);
            await app.StopAsync();
        }
        Console.WriteLine($"harness rps: HttpClient⇄Kestrel sequential GET: {harness:F0}/s on the harness, {kernel:F0}/s on the kernel's loopback ({harness / kernel:P0})");
    }

    private static async Task<double> Requests(HttpClient http, string url, TimeSpan span)
    {
        for (int i = 0; i < 100; i++)
        {
            await http.GetStringAsync(url); // warm-up
        }
        var clock = Stopwatch.StartNew();
        int n = 0;
        while (clock.Elapsed < span)
        {
            await http.GetStringAsync(url);
            n++;
        }
        return n / clock.Elapsed.TotalSeconds;
    }
}
