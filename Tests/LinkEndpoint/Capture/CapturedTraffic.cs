// Real traffic of our own stack, captured by the tap: two stacks on a deterministic in-memory network exchange TCP
// (IPv4 and IPv6, both directions, with FIN), UDP (a datagram large enough to be fragmented) and pings, while one
// host's capture writes every packet it sends and receives. The differential and `pcap check` tests read it.
using System.Net;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Udp;

namespace NetStack.Tests.LinkEndpoint.Capture;

internal static class CapturedTraffic
{
    private static readonly Lazy<byte[][]> s_records = new(Capture);

    /// <summary>The captured packets (raw IP), in capture order.</summary>
    public static IReadOnlyList<byte[]> Records => s_records.Value;

    /// <summary>Writes the capture to a new pcap file (raw IP, PcapWriter) and returns its path; the caller deletes it.</summary>
    public static string WritePcap(Func<int, byte[], byte[]>? transform = null)
    {
        string path = Path.Combine(Path.GetTempPath(), $"netstack-traffic-{Guid.NewGuid():N}.pcap");
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "capture-copy");
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = new ManualClock() }))
        {
            for (int i = 0; i < Records.Count; i++)
            {
                using PacketBuffer packet = pool.RentCopy(transform is null ? Records[i] : transform(i, Records[i]));
                Assert.True(writer.Write(packet));
            }
        }
        return path;
    }

    private static byte[][] Capture()
    {
        string path = Path.Combine(Path.GetTempPath(), $"netstack-live-{Guid.NewGuid():N}.pcap");
        var pool = new LeakCheckedPool(new PacketBufferPoolOptions { DebugTracking = false });
        var delay = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(1), QueueLimit = 10000 };
        var network = new InMemoryNetwork(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Seed = 3, Pool = pool.Pool, Gso = GsoSupport.None });
        // The capture sees A's packets on the wire side of its link (before GRO): what was sent and received.
        InMemoryHost hostA = network.AddHost(new InMemoryHostOptions
        {
            Name = "a",
            Gro = false,
            Stack = new NetworkStackOptions { Tcp = new TcpProtocolOptions { IsnSecret = [1], RandomSeed = 1 } },
            OutboundImpairment = delay,
            PcapPath = path,
        });
        InMemoryHost hostB = network.AddHost(new InMemoryHostOptions
        {
            Name = "b",
            Stack = new NetworkStackOptions { Tcp = new TcpProtocolOptions { IsnSecret = [2], RandomSeed = 2 } },
            OutboundImpairment = delay,
        });
        NetworkStack a = hostA.Stack, b = hostB.Stack;
        TcpProtocol tcpA = a.Tcp;
        TcpProtocol tcpB = b.Tcp;
        SimulationDriver driver = network.Driver!;
        try
        {
            using TcpConnectionListener listener = tcpB.Listen(new IPEndPoint(IPAddress.IPv6Any, 50080));
            foreach (string server in new[] { "10.0.0.2", "fd00::2" })
            {
                TcpConnection client = tcpA.Connect(new IPEndPoint(IPAddress.Parse(server), 50080));
                TcpConnection? accepted = null;
                byte[] up = Packets.Payload(20_000, 1), down = Packets.Payload(9_000, 2);
                int sentUp = 0, sentDown = 0, receivedUp = 0, receivedDown = 0;
                bool upClosed = false, downClosed = false;
                var scratch = new byte[65536];
                Assert.True(driver.RunUntil(() =>
                {
                    if (accepted is null && listener.TryAccept(out TcpConnection? c))
                    {
                        accepted = c;
                    }
                    if (client.State == TcpState.Established || client.State == TcpState.CloseWait)
                    {
                        sentUp += client.TryWrite(up.AsSpan(sentUp));
                        if (sentUp == up.Length && !upClosed)
                        {
                            client.ShutdownSend();
                            upClosed = true;
                        }
                    }
                    if (accepted is not null)
                    {
                        sentDown += accepted.TryWrite(down.AsSpan(sentDown));
                        if (sentDown == down.Length && !downClosed)
                        {
                            accepted.ShutdownSend();
                            downClosed = true;
                        }
                        for (int n; (n = accepted.TryRead(scratch)) > 0;)
                        {
                            receivedUp += n;
                        }
                    }
                    for (int n; (n = client.TryRead(scratch)) > 0;)
                    {
                        receivedDown += n;
                    }
                    return receivedUp == up.Length && receivedDown == down.Length && upClosed && downClosed;
                }, TimeSpan.FromSeconds(30)), "the transfer completes");
                client.Dispose();
                accepted!.Dispose();
            }
            driver.RunUntil(() => tcpA.ConnectionCount == 0 && tcpB.ConnectionCount == 0, TimeSpan.FromMinutes(3));

            using UdpEndpoint udpA = a.Udp.CreateEndpoint();
            using UdpEndpoint udpB = b.Udp.CreateEndpoint();
            udpB.Bind(new IPEndPoint(IPAddress.IPv6Any, 50053));
            udpA.SendTo(Packets.Payload(100, 3), new IPEndPoint(IPAddress.Parse("10.0.0.2"), 50053));
            udpA.SendTo(Packets.Payload(3000, 4), new IPEndPoint(IPAddress.Parse("10.0.0.2"), 50053)); // IPv4 fragments
            udpA.SendTo(Packets.Payload(3000, 5), new IPEndPoint(IPAddress.Parse("fd00::2"), 50053)); // IPv6 fragments
            udpA.SendTo(Packets.Payload(1, 6), new IPEndPoint(IPAddress.Parse("10.0.0.2"), 50054)); // port unreachable back
            var buffer = new byte[4096];
            driver.RunUntil(() =>
            {
                while (udpB.TryReceive(buffer, out UdpReceiveFromResult r))
                {
                    udpB.SendTo(buffer.AsSpan(0, Math.Min(r.ReceivedBytes, 200)), r.RemoteEndPoint);
                }
                return false;
            }, TimeSpan.FromSeconds(1));
            Task<TimeSpan> ping4 = a.Icmp.PingAsync(IPAddress.Parse("10.0.0.2"), 56, TimeSpan.FromSeconds(5));
            Task<TimeSpan> ping6 = a.Icmp.PingAsync(IPAddress.Parse("fd00::2"), 56, TimeSpan.FromSeconds(5));
            driver.RunUntil(() => ping4.IsCompleted && ping6.IsCompleted, TimeSpan.FromSeconds(5));
        }
        finally
        {
            network.Dispose(); // finishes the capture
        }
        try
        {
            return [.. SharpPcapRecords(path)];
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static IEnumerable<byte[]> SharpPcapRecords(string path) =>
        CaptureFiles.Read(path).Records.Select(r => r.Data);
}
