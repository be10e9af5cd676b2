// Determinism in virtual time, one test per API pattern docs/harness.md calls deterministic: each scenario runs ten
// times with one seed over lossy, reordering links and every run must write the same pcapng capture, byte for byte.
// (The main scenario, with TCP retransmissions, is PcapNgWriterTests.Capture_SameSeed_TenRuns_AreByteIdentical_AndAnotherSeedDiffers.)
using System.Net;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Tcp;

namespace NetStack.Tests.Simulation;

public partial class VirtualNetworkTests
{
    private const int Runs = 10;

    private static readonly ImpairmentOptions LossyReordering = new()
    {
        LossPercent = 5,
        Delay = TimeSpan.FromMilliseconds(5),
        ReorderPercent = 10,
        ReorderExtraDelay = TimeSpan.FromMilliseconds(4),
    };

    /// <summary>Runs <paramref name="scenario"/> ten times on a fresh virtual-time network seeded <paramref name="seed"/>; every capture must be the first one's bytes.</summary>
    private static async Task AssertSameCaptureEveryRunAsync(int seed, Func<VirtualNetwork, Task> scenario)
    {
        string dir = Directory.CreateTempSubdirectory("netstack-determinism").FullName;
        try
        {
            byte[]? first = null;
            for (int run = 0; run < Runs; run++)
            {
                string path = Path.Combine(dir, $"run{run}.pcapng");
                await using (var net = new VirtualNetwork(new VirtualNetworkOptions { Seed = seed, Time = NetworkTime.Virtual, CapturePath = path }))
                {
                    await scenario(net);
                }
                byte[] capture = File.ReadAllBytes(path);
                first ??= capture;
                Assert.True(first.AsSpan().SequenceEqual(capture), $"run {run} wrote another capture than run 0 ({capture.Length} bytes against {first.Length})");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task CopyToAsync_OverAVirtualStream_SameSeed_SameCaptureEveryRun()
    {
        await AssertSameCaptureEveryRunAsync(11, async net =>
        {
            VirtualHost sender = net.AddHost("sender"), receiver = net.AddHost("receiver");
            sender.Link.Set(LossyReordering);
            VirtualListener listener = receiver.Listen(7000);
            byte[] data = new byte[128 * 1024];
            new Random(11).NextBytes(data);
            var copy = new MemoryStream();
            await net.RunAsync(async () =>
            {
                var upstream = (VirtualStream)await sender.ConnectAsync("receiver", 7000);
                Stream inbox = await listener.AcceptAsync();
                await upstream.WriteAsync(data);
                upstream.ShutdownSend(); // the FIN ends CopyToAsync
                await inbox.CopyToAsync(copy);
            });
            Assert.Equal(data, copy.ToArray());
            Assert.True(sender.Link.OutboundStage!.DroppedLoss > 0 && sender.Link.OutboundStage.Reordered > 0, net.Summary());
        });
    }

    [Fact(Timeout = 120_000)]
    public async Task UdpReceiveAsync_WithTimeoutsOnTheNetworksClock_SameSeed_SameCaptureEveryRun()
    {
        await AssertSameCaptureEveryRunAsync(12, async net =>
        {
            VirtualHost sensor = net.AddHost("sensor"), collector = net.AddHost("collector");
            sensor.Link.Set(new ImpairmentOptions { LossPercent = 20, Delay = TimeSpan.FromMilliseconds(5), ReorderPercent = 20, ReorderExtraDelay = TimeSpan.FromMilliseconds(15) });
            VirtualUdpSocket outbox = sensor.BindUdp(), inbox = collector.BindUdp(5000);
            int received = 0, timeouts = 0;
            await net.RunAsync(async () =>
            {
                for (int i = 0; i < 40; i++)
                {
                    outbox.SendTo(BitConverter.GetBytes(i), "collector", 5000);
                    using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(8), net.Clock);
                    try
                    {
                        await inbox.ReceiveAsync(new byte[16], timeout.Token);
                        received++;
                    }
                    catch (OperationCanceledException)
                    {
                        timeouts++;
                    }
                }
            });
            Assert.True(received > 0 && timeouts > 0, $"{received} received, {timeouts} timed out");
        });
    }

    [Fact(Timeout = 120_000)]
    public async Task StacksSynchronousApi_WithWaitUntil_SameSeed_SameCaptureEveryRun()
    {
        await AssertSameCaptureEveryRunAsync(13, async net =>
        {
            VirtualHost client = net.AddHost("client"), server = net.AddHost("server");
            client.Link.Set(LossyReordering);
            using TcpConnectionListener listener = server.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 9000));
            long echoed = 0;
            await net.RunAsync(async () =>
            {
                using TcpConnection c = client.Stack.Tcp.Connect(new IPEndPoint(server.Ipv4, 9000));
                TcpConnection? s = null;
                await net.WaitUntil(() => listener.TryAccept(out s));
                using TcpConnection accepted = s!;
                byte[] chunk = new byte[1000], back = new byte[4096];
                for (int i = 0; i < 30; i++)
                {
                    await net.WaitUntil(() => c.TryWrite(chunk) > 0);
                    int n = 0;
                    await net.WaitUntil(() => (n = accepted.TryRead(back)) > 0);
                    echoed += n;
                }
            });
            Assert.True(echoed > 0);
            Assert.True(client.Link.OutboundStage!.DroppedLoss > 0, net.Summary());
        });
    }

    [Fact(Timeout = 120_000)]
    public async Task PartitionedConnect_TimesOutOnTheNetworksClock_ThenHeals_SameSeed_SameCaptureEveryRun()
    {
        await AssertSameCaptureEveryRunAsync(14, async net =>
        {
            VirtualHost a = net.AddHost("a"), b = net.AddHost("b");
            a.Link.Set(LossyReordering);
            b.Listen(7000);
            await net.RunAsync(async () =>
            {
                net.Partition("a", "b");
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(4), net.Clock);
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.ConnectAsync("b", 7000, timeout.Token)); // SYNs retransmitted into the partition
                net.Repair("a", "b");
                await using Stream healed = await a.ConnectAsync("b", 7000);
                await healed.WriteAsync(new byte[5000]);
                await net.Delay(TimeSpan.FromSeconds(2));
            });
            Assert.True(a.Summary().RetransmissionTimeouts > 0, net.Summary());
        });
    }

    [Fact(Timeout = 120_000)]
    public async Task StacksOwnAsyncApi_InVirtualTime_WithRealTimeGrace_Completes()
    {
        // Not claimed deterministic (docs/harness.md): the stack's async waits continue on the thread pool. With a grace
        // of real time whenever the network is idle, the driver waits for those continuations instead of jumping ahead.
        await using var net = new VirtualNetwork(new VirtualNetworkOptions { Seed = 15, Time = NetworkTime.Virtual, RealTimeGrace = TimeSpan.FromMilliseconds(20) });
        VirtualHost client = net.AddHost("client"), server = net.AddHost("server");
        client.Link.Set(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5) });
        using TcpConnectionListener listener = server.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 9000));
        byte[] data = new byte[32 * 1024], got = new byte[data.Length];
        new Random(15).NextBytes(data);
        await net.RunAsync(async () =>
        {
            Task<TcpConnection> accepting = listener.AcceptAsync().AsTask();
            using TcpConnection c = await client.Stack.Tcp.ConnectAsync(new IPEndPoint(server.Ipv4, 9000));
            using TcpConnection s = await accepting;
            await c.WriteAsync(data);
            await s.ReadExactlyAsync(got);
        });
        Assert.Equal(data, got);
    }
}
