// `Bench tcp`: one TCP stream between two stacks on a live InMemoryNetwork, measured end to end (throughput, CPU,
// allocations), with optional loss on either direction.
using System.Diagnostics;
using System.Net;
using NetStack.Buffers;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tcp.Congestion;

namespace NetStack.Bench;

/// <summary>
/// End-to-end TCP throughput between two stacks in one process on a live InMemoryNetwork (system clock)
/// (no simulation): one stream, A writes as fast as it can, B reads. Prints Gbit/s, CPU time per GiB and
/// allocations per MiB. <c>dotnet run -c Release --project Bench -- tcp [--seconds 5] [--gso host|software|none] [--mtu 1500]</c>.
/// </summary>
internal static class TcpThroughput
{
    public static int Run(string[] args)
    {
        double seconds = 5;
        GsoSupport gso = GsoSupport.Host;
        int mtu = 1500;
        bool gro = true;
        var cc = TcpCongestionControl.Cubic;
        double loss = 0;
        bool hash = false;
        double ackLoss = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds": seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--gso": gso = Enum.Parse<GsoSupport>(args[++i], ignoreCase: true); break;
                case "--mtu": mtu = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--no-gro": gro = false; break;
                case "--cc": cc = Enum.Parse<TcpCongestionControl>(args[++i], ignoreCase: true); break;
                case "--hash": hash = true; break;
                case "--loss": loss = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--ack-loss": ackLoss = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        return RunAsync(seconds, gso, mtu, gro, cc, loss, ackLoss, hash).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(double seconds, GsoSupport gso, int mtu, bool gro, TcpCongestionControl cc, double loss, double ackLoss, bool hash)
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "bench");
        var options = new TcpProtocolOptions { Connection = new TcpConnectionOptions { CongestionControl = cc } };
        await using var network = new InMemoryNetwork(new InMemoryNetworkOptions
        {
            Seed = 1,
            Pool = pool,
            Gso = gso,
            Mtu = mtu,
            Gro = gro,
            Stack = new NetworkStackOptions { Tcp = options },
            Name = "bench",
        });
        InMemoryHost a = network.AddHost(new InMemoryHostOptions
        {
            Name = "a",
            OutboundImpairment = loss > 0 ? new ImpairmentOptions { LossPercent = loss, QueueLimit = 100_000 } : null,
        });
        InMemoryHost b = network.AddHost(new InMemoryHostOptions
        {
            Name = "b",
            OutboundImpairment = ackLoss > 0 ? new ImpairmentOptions { LossPercent = ackLoss, QueueLimit = 100_000 } : null,
        });
        ChannelEndpoint linkA = a.Link, linkB = b.Link;
        TcpProtocol tcpA = a.Stack.Tcp;
        TcpProtocol tcpB = b.Stack.Tcp;

        using TcpConnectionListener listener = tcpB.Listen(new IPEndPoint(IPAddress.Any, 5201));
        Task<TcpConnection> accept = listener.AcceptAsync().AsTask();
        TcpConnection client = await tcpA.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5201));
        TcpConnection server = await accept;

        var payload = new byte[256 * 1024];
        Random.Shared.NextBytes(payload);
        long received = 0;
        var deadline = TimeSpan.FromSeconds(seconds);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        int gcBefore = GC.CollectionCount(0);
        var clock = Stopwatch.StartNew();
        Task writer = Task.Run(async () =>
        {
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            while (clock.Elapsed < deadline)
            {
                if (hash)
                {
                    sha.AppendData(payload);
                }
                await client.WriteAsync(payload);
            }
            client.ShutdownSend();
        });
        Task reader = Task.Run(async () =>
        {
            var buffer = new byte[256 * 1024];
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            int n;
            while ((n = await server.ReadAsync(buffer)) > 0)
            {
                if (hash)
                {
                    sha.AppendData(buffer, 0, n);
                }
                received += n;
            }
        });
        await Task.WhenAll(writer, reader);
        TimeSpan elapsed = clock.Elapsed;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        TcpConnectionStatistics stats = client.GetStatistics();
        double gbps = received * 8 / elapsed.TotalSeconds / 1e9;
        double mib = received / (1024.0 * 1024);
        Console.WriteLine($"tcp cc={cc} loss={loss}% ack-loss={ackLoss}% hash={hash} gso={gso} gro={gro} mtu={mtu}: {mib:F0} MiB in {elapsed.TotalSeconds:F2} s = {gbps:F2} Gbit/s; " +
            $"cpu {cpu.TotalSeconds / (mib / 1024):F2} s/GiB; alloc {allocated / mib:F0} B/MiB; gen0 GCs {GC.CollectionCount(0) - gcBefore}");
        Console.WriteLine($"  client: segments {stats.SegmentsSent}, retransmits {stats.Retransmissions} ({stats.BytesRetransmitted * 100.0 / Math.Max(1, stats.BytesSent):F2} % of bytes), timeouts {stats.Timeouts}, recoveries {stats.Recoveries}, probes {stats.LossProbes}, dsacks {stats.DuplicateSacks}, cwnd {stats.CongestionWindow}, ssthresh {stats.SlowStartThreshold}, rtt {stats.SmoothedRtt.TotalMicroseconds:F0} µs, mss {stats.MaxSegmentSize}");
        Console.WriteLine($"  server: segments in {server.GetStatistics().SegmentsReceived}; GRO b: {linkB.Gro?.Events}; flushes {linkB.Gro?.Flushes}");
        Console.WriteLine($"  tcp A events {tcpA.Events}; drops {tcpA.Drops}");
        Console.WriteLine($"  tcp B events {tcpB.Events}; drops {tcpB.Drops}; link A {linkA.Events}; link B {linkB.Events}");
        await client.DisposeAsync();
        await server.DisposeAsync();
        return 0;
    }
}
