// The attacks issue 14 tried on `netstack serve`, replayed on a real TUN in a namespace with forged packets from a
// raw socket (RawPeer): a forged ICMP "fragmentation needed", a handshake flood from spoofed sources, and peers that
// shut their window and go silent.
using System.Collections.Concurrent;
using System.Net;
using NetStack.Cli.Serve;
using NetStack.Icmp;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Interop;

/// <summary>
/// serve under the attacks of issue 14 (docs/ARCHITECTURE.md §6), with the kernel's own curl as the legitimate
/// client. Spoofed peers use addresses inside the namespace's prefix that the kernel does not own, so it drops the
/// stack's answers to them and only the raw peer sees those.
/// </summary>
[Collection(KernelInteropCollection.Name)]
public class KernelAttackTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly IPAddress Forger = IPAddress.Parse("10.201.0.77");

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForgedFragmentationNeeded_Mtu68FromANonPeer_DownloadStillCompletes(bool offload)
    {
        InteropEnvironment.Require("curl");
        await using var rig = InteropRig.Start(1500, offload);
        using RawPeer peer = RawPeer.Open(rig.Ns.Name, InteropRig.Device);
        // Issue 14 item 6: from an address that is not the peer, quoting no existing connection (the stack's port 80
        // to a kernel port nobody uses), MTU 68. Before, it set the kernel's path MTU to the minimum for ten minutes.
        byte[] forged = RawPeer.FragmentationNeeded(Forger, InteropRig.StackV4, 68, InteropRig.StackV4, 80, InteropRig.KernelV4, 40404, 12345);
        peer.Send(forged);
        // It reaches TCP, which finds no connection for the quote (RFC 5927 §4.1) and changes nothing.
        await WaitForAsync(() => rig.Host.Tcp.Drops[TcpDropReason.IcmpNoConnection] >= 1, "the forged message to reach TCP");

        const long Length = 10_000_000;
        CurlResult curl = await Curl.RunAsync(rig.Ns, $"--max-time 30 {Curl.Url(InteropRig.StackV4, $"/bytes/{Length}")}", TimeSpan.FromSeconds(40));
        peer.Send(forged); // and again after: still ignored
        await WaitForAsync(() => rig.Host.Tcp.Drops[TcpDropReason.IcmpNoConnection] >= 2, "the second forgery to reach TCP");
        output.WriteLine(rig.Host.DescribeCounters());
        Assert.True(curl.Exit == 0, curl.Error);
        Assert.Equal(Length, curl.Length);
        Assert.Equal(Curl.PatternSha256(Length), curl.Sha256);
        Assert.Equal(0, rig.Host.Stack.Icmp.Events[IcmpEvent.PathMtuUpdates]);
        Assert.Equal(0, rig.Host.Tcp.Events[TcpEvent.PathMtuDecreased]);
    }

    [SkippableFact]
    public async Task HandshakeFlood_SpoofedSources_KernelCurlConnectsOnItsFirstSyn()
    {
        InteropEnvironment.Require("curl");
        // A table of 4,096 so that the flood fills it within the test (the default is 65,536).
        await using var rig = InteropRig.Start(configure: o => o with { MaxConnections = 4096 });
        using RawPeer flooder = RawPeer.Open(rig.Ns.Name, InteropRig.Device);
        using RawPeer responder = RawPeer.Open(rig.Ns.Name, InteropRig.Device);
        using var stop = new CancellationTokenSource();
        int completed = 0;
        Task answer = Task.Run(() => completed = responder.CompleteSpoofedHandshakes(InteropRig.KernelV4, stop.Token));
        Task flood = Task.Run(() => SynFlood(flooder, sources: 200, stop.Token));

        long synRetransmitsBefore = KernelTcpExt(rig.Ns, "TCPSynRetrans");
        var connects = new List<string>();
        for (int i = 0; i < 10; i++)
        {
            await Task.Delay(1000);
            CurlResult curl = await Curl.RunAsync(rig.Ns,
                $"--connect-timeout 1 --max-time 10 -w \"%{{stderr}}connect %{{time_connect}} s\\n\" {Curl.Url(InteropRig.StackV4, "/bytes/1000")}", TimeSpan.FromSeconds(15));
            connects.Add($"{curl.Exit}: {curl.Error.Trim()}");
            Assert.True(curl.Exit == 0, $"connect {i}: {curl.Error}");
            Assert.Equal(Curl.PatternSha256(1000), curl.Sha256);
        }
        long synRetransmits = KernelTcpExt(rig.Ns, "TCPSynRetrans") - synRetransmitsBefore;
        await stop.CancelAsync();
        await Task.WhenAll(answer, flood);
        output.WriteLine(string.Join(Environment.NewLine, connects));
        output.WriteLine($"flood: {completed} handshakes completed by the spoofed sources");
        output.WriteLine(rig.Host.DescribeCounters());
        // Every legitimate connect was answered on its first SYN (the kernel retransmits an unanswered SYN after 1 s).
        Assert.Equal(0, synRetransmits);
        // The flood filled the table: the per-address share refused some of it.
        Assert.True(completed >= 3000, $"only {completed} handshakes completed");
        Assert.True(rig.Host.Tcp.Drops[TcpDropReason.RemoteAddressLimit] + rig.Host.Tcp.Drops[TcpDropReason.TableFull] > 0,
            "the flood never reached the table's limits");
    }

    [SkippableFact]
    public async Task ZeroWindowThenSilent_PersistAndOrphan_ConnectionsEndWithinTheirLimits()
    {
        InteropEnvironment.Require();
        // The service's idle reset off: the TCP limits alone must end both connections.
        await using var rig = InteropRig.Start(configure: o => o with { IdleTimeout = TimeSpan.Zero, UserTimeout = TimeSpan.FromSeconds(10), OrphanRetries = 2 });
        using RawPeer peer = RawPeer.Open(rig.Ns.Name, InteropRig.Device);
        IPAddress chargenPeer = IPAddress.Parse("10.201.0.50");
        IPAddress echoPeer = IPAddress.Parse("10.201.0.51");
        var seen = new ConcurrentDictionary<ushort, int>(); // segments from the stack per peer port
        uint chargenNext = Open(peer, chargenPeer, 41000, ChargenService.DefaultPort);
        uint echoNext = Open(peer, echoPeer, 41001, EchoService.DefaultPort);
        // The echo peer sends a line and its FIN with its window shut: the service echoes into the shut window,
        // closes, and the connection is an orphan (FIN-WAIT-1 with data unsent).
        peer.SendTcp(echoPeer, InteropRig.StackV4, Segment(41001, EchoService.DefaultPort, 1001, echoNext, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin), "hello\n"u8);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        byte[] buffer = new byte[70000];
        while (watch.Elapsed < TimeSpan.FromSeconds(30)
            && (rig.Host.Tcp.Events[TcpEvent.UserTimeout] == 0 || rig.Host.Tcp.Events[TcpEvent.OrphansDropped] == 0))
        {
            int n = peer.Receive(buffer, 100);
            if (n > 0 && RawPeer.TryParseTcp(buffer.AsSpan(0, n), out _, out _, out TcpRepr tcp, out _))
            {
                seen.AddOrUpdate(tcp.DestinationPort, 1, (_, c) => c + 1); // silent: never answered
            }
        }
        output.WriteLine($"after {watch.Elapsed.TotalSeconds:F1} s: segments seen per peer port [{string.Join(", ", seen)}]");
        output.WriteLine(rig.Host.DescribeCounters());
        Assert.True(rig.Host.Tcp.Events[TcpEvent.WindowProbes] >= 2, "no window probes: the windows never shut");
        Assert.Equal(1, rig.Host.Tcp.Events[TcpEvent.UserTimeout]);   // the chargen connection (the service never closed it)
        Assert.Equal(1, rig.Host.Tcp.Events[TcpEvent.OrphansDropped]); // the echo connection (closed by the service)
        await WaitForAsync(() => rig.Host.Tcp.ConnectionCount == 0, "the stack to forget both connections");

        // Forgotten, as a kernel peer sees it: an ACK on either old connection now draws a RST.
        foreach ((IPAddress address, ushort port, int service, uint next) in new[] { (chargenPeer, (ushort)41000, ChargenService.DefaultPort, chargenNext), (echoPeer, (ushort)41001, EchoService.DefaultPort, echoNext) })
        {
            peer.SendTcp(address, InteropRig.StackV4, Segment(port, service, 1001, next, TcpFlags.Ack));
            Assert.True(WaitForSegment(peer, port, s => (s.Flags & TcpFlags.Rst) != 0, 5000), $"no RST for the forgotten connection from port {port}");
        }
    }

    /// <summary>A handshake from <paramref name="source"/> with a zero window (ISS 1000); returns the stack's ISS + 1.</summary>
    private static uint Open(RawPeer peer, IPAddress source, ushort port, int service)
    {
        peer.SendTcp(source, InteropRig.StackV4, Segment(port, service, 1000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460 });
        TcpRepr synAck = default;
        Assert.True(WaitForSegment(peer, port, s => { synAck = s; return (s.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack); }, 5000),
            $"no SYN-ACK to port {port}");
        uint next = synAck.SequenceNumber + 1;
        peer.SendTcp(source, InteropRig.StackV4, Segment(port, service, 1001, next, TcpFlags.Ack));
        return next;
    }

    private static TcpRepr Segment(ushort sourcePort, int service, uint seq, uint ack, TcpFlags flags) => new()
    {
        SourcePort = sourcePort,
        DestinationPort = (ushort)service,
        SequenceNumber = seq,
        AcknowledgmentNumber = ack,
        Flags = flags,
        WindowSize = 0,
    };

    private static bool WaitForSegment(RawPeer peer, ushort port, Func<TcpRepr, bool> match, int timeoutMs)
    {
        byte[] buffer = new byte[70000];
        long deadline = Environment.TickCount64 + timeoutMs;
        while (Environment.TickCount64 < deadline)
        {
            int n = peer.Receive(buffer, 100);
            if (n > 0 && RawPeer.TryParseTcp(buffer.AsSpan(0, n), out _, out _, out TcpRepr tcp, out _) && tcp.DestinationPort == port && match(tcp))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// SYNs to port 80 from <paramref name="sources"/> spoofed addresses (10.201.0.10 on), a new port each round, ten
    /// rounds a second (2,000 handshakes/s from 200 sources: a flood, not a link overload that drops curl's SYN in
    /// the TUN's queue before the stack sees it).
    /// </summary>
    private static void SynFlood(RawPeer peer, int sources, CancellationToken cancellationToken)
    {
        for (int round = 0; !cancellationToken.IsCancellationRequested; round++)
        {
            Thread.Sleep(100);
            ushort port = (ushort)(1024 + (round % 60000));
            for (int s = 0; s < sources; s++)
            {
                var source = new IPAddress([10, 201, 0, (byte)(10 + s)]);
                peer.SendTcp(source, InteropRig.StackV4, new TcpRepr
                {
                    SourcePort = port,
                    DestinationPort = 80,
                    SequenceNumber = (uint)(round * 7919),
                    Flags = TcpFlags.Syn,
                    WindowSize = 65535,
                    MaxSegmentSize = 1460,
                });
            }
        }
    }

    /// <summary>A counter of the namespace's kernel TCP (/proc/net/netstat, TcpExt).</summary>
    private static long KernelTcpExt(NetNs ns, string name)
    {
        var (exit, text, error) = ns.Exec("cat /proc/net/netstat");
        Assert.True(exit == 0, error);
        string[] lines = text.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (lines[i].StartsWith("TcpExt:", StringComparison.Ordinal) && lines[i + 1].StartsWith("TcpExt:", StringComparison.Ordinal))
            {
                int index = Array.IndexOf(lines[i].Split(' '), name);
                Assert.True(index > 0, $"no TcpExt {name}");
                return long.Parse(lines[i + 1].Split(' ')[index], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        Assert.Fail("no TcpExt in /proc/net/netstat");
        return 0;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }
        Assert.True(condition(), "timed out waiting for " + what);
    }
}
