// Two NetworkStacks on a deterministic InMemoryNetwork with seeded loss, reordering and duplication, a shared
// ManualClock and the SimulationDriver: UDP datagrams (fragmented ones too) and pings both ways over IPv4 and
// IPv6; every delivery intact, runs replay by seed, nothing leaks.
using System.Buffers.Binary;
using System.Net;
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Link;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tests.Support;
using NetStack.Udp;

namespace NetStack.Tests.Stack.Network;

/// <summary>Two stacks (10.0.0.1 / fd00::1 and 10.0.0.2 / fd00::2) on a deterministic in-memory network, the same impairment on what each sends.</summary>
internal sealed class TwoStacks : IDisposable
{
    private readonly LeakCheckedPool _pool = new(new PacketBufferPoolOptions()); // counts without per-rental stack traces
    private readonly InMemoryNetwork _network;

    public TwoStacks(ImpairmentOptions? impairment, int seed)
    {
        _network = new InMemoryNetwork(new InMemoryNetworkOptions
        {
            Mode = InMemoryNetworkMode.Deterministic,
            Seed = seed,
            Pool = _pool.Pool,
            Gso = GsoSupport.None,
            Name = "two-stacks",
        });
        HostA = _network.AddHost(new InMemoryHostOptions { Name = "a", OutboundImpairment = impairment });
        HostB = _network.AddHost(new InMemoryHostOptions { Name = "b", OutboundImpairment = impairment });
    }

    public InMemoryHost HostA { get; }

    public InMemoryHost HostB { get; }

    public ManualClock Clock => Driver.Clock;

    public NetworkStack A => HostA.Stack;

    public NetworkStack B => HostB.Stack;

    public SimulationDriver Driver => _network.Driver!;

    public void Dispose()
    {
        _network.Dispose();
        _pool.AssertNoLeaks();
    }
}

public class TwoStackSimulationTests
{
    private const int PerDirection = 120;

    private static readonly ImpairmentOptions Rough = new()
    {
        LossPercent = 3,
        DuplicatePercent = 2,
        ReorderPercent = 10,
        ReorderExtraDelay = TimeSpan.FromMilliseconds(5),
        Delay = TimeSpan.FromMilliseconds(2),
    };

    /// <summary>Datagram <paramref name="seq"/> of direction <paramref name="direction"/>: its length and bytes follow from both.</summary>
    private static byte[] Datagram(int direction, int seq)
    {
        int length = seq % 6 == 0 ? 2500 + (seq * 37 % 4000) : 4 + (seq * 53 % 1400);
        byte[] d = Packets.Payload(length, (direction * 100_000) + seq);
        BinaryPrimitives.WriteInt32BigEndian(d, seq);
        return d;
    }

    private sealed record RunResult(List<int> AtB, List<int> AtA, long Lost, long Duplicated, long Reordered);

    private static RunResult Exchange(int seed, bool v6, ImpairmentOptions? impairment)
    {
        using var s = new TwoStacks(impairment, seed);
        var atB = new List<int>();
        var atA = new List<int>();
        using (var a = s.A.Udp.CreateEndpoint())
        using (var b = s.B.Udp.CreateEndpoint())
        {
            a.Bind(new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, 7001));
            b.Bind(new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, 7002));
            var toB = new IPEndPoint(IPAddress.Parse(v6 ? "fd00::2" : "10.0.0.2"), 7002);
            var toA = new IPEndPoint(IPAddress.Parse(v6 ? "fd00::1" : "10.0.0.1"), 7001);
            int next = 0;
            TimeSpan nextSend = TimeSpan.Zero;
            var buffer = new byte[70000];

            void Drain(UdpEndpoint endpoint, int direction, List<int> into)
            {
                while (endpoint.TryReceive(buffer, out var r))
                {
                    Assert.False(r.Truncated);
                    int seq = BinaryPrimitives.ReadInt32BigEndian(buffer);
                    Assert.InRange(seq, 0, PerDirection - 1);
                    Assert.True(Datagram(direction, seq).AsSpan().SequenceEqual(buffer.AsSpan(0, r.ReceivedBytes)), $"datagram {seq} intact");
                    into.Add(seq);
                }
            }

            bool Idle()
            {
                Drain(b, 0, atB);
                Drain(a, 1, atA);
                if (next >= PerDirection || s.Clock.Elapsed < nextSend)
                {
                    return false;
                }
                for (int i = 0; i < 4 && next < PerDirection; i++, next++)
                {
                    a.SendTo(Datagram(0, next), toB);
                    b.SendTo(Datagram(1, next), toA);
                }
                nextSend = s.Clock.Elapsed + TimeSpan.FromMilliseconds(1);
                return true;
            }

            // Long enough for every reassembly to finish or time out (IPv6: 60 s).
            s.Driver.RunUntil(() => false, TimeSpan.FromSeconds(65), Idle);
            Drain(b, 0, atB);
            Drain(a, 1, atA);
            Assert.Equal(PerDirection, next);
            Assert.Equal(0, s.A.Reassembler.DatagramsInFlight);
            Assert.Equal(0, s.B.Reassembler.DatagramsInFlight);
        }
        ImpairmentStage? ab = s.HostA.OutboundImpairment, ba = s.HostB.OutboundImpairment;
        return new RunResult(atB, atA, (ab?.DroppedLoss ?? 0) + (ba?.DroppedLoss ?? 0), (ab?.Duplicated ?? 0) + (ba?.Duplicated ?? 0),
            (ab?.Reordered ?? 0) + (ba?.Reordered ?? 0));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PerfectWire_EveryDatagramArrivesInOrder(bool v6)
    {
        RunResult r = Exchange(seed: 1, v6, impairment: null);
        Assert.Equal(Enumerable.Range(0, PerDirection), r.AtB);
        Assert.Equal(Enumerable.Range(0, PerDirection), r.AtA);
    }

    [Theory]
    [InlineData(false, 11)]
    [InlineData(true, 12)]
    public void LossReorderDuplication_DeliveredDatagramsIntact_LossPlausible(bool v6, int seed)
    {
        RunResult r = Exchange(seed, v6, Rough);
        Assert.True(r.Lost > 0 && r.Duplicated > 0 && r.Reordered > 0, $"impairments happened: {r}");
        foreach (List<int> delivered in new[] { r.AtB, r.AtA })
        {
            int unique = delivered.Distinct().Count();
            // Single-packet datagrams survive 3% loss 97% of the time, 3-5 fragment ones ≥ 85%: expect ~95%.
            Assert.InRange(unique, PerDirection * 80 / 100, PerDirection - 1);
            Assert.True(delivered.Count <= unique + 15, "duplicates are few");
            // Reordering shows: some datagram arrives after a later one.
            Assert.Contains(delivered.Zip(delivered.Skip(1)), pair => pair.First > pair.Second);
        }
    }

    [Fact]
    public void SameSeed_SameDeliveredSequence()
    {
        RunResult first = Exchange(seed: 42, v6: false, Rough);
        RunResult second = Exchange(seed: 42, v6: false, Rough);
        Assert.Equal(first.AtB, second.AtB);
        Assert.Equal(first.AtA, second.AtA);
        Assert.Equal(first.Lost, second.Lost);
        RunResult other = Exchange(seed: 43, v6: false, Rough);
        Assert.False(first.AtB.SequenceEqual(other.AtB) && first.AtA.SequenceEqual(other.AtA), "another seed, another run");
    }

    [Fact]
    public async Task Ping_BothWays_V4AndV6_RttIsTwiceTheDelay()
    {
        var delay = TimeSpan.FromMilliseconds(7);
        using var s = new TwoStacks(new ImpairmentOptions { Delay = delay }, seed: 3);
        (NetworkStack From, string To)[] pings =
        [
            (s.A, "10.0.0.2"), (s.B, "10.0.0.1"), (s.A, "fd00::2"), (s.B, "fd00::1"),
        ];
        foreach (var (from, to) in pings)
        {
            long before = from.Icmp.Events[IcmpEvent.EchoRepliesReceived];
            Task<TimeSpan> ping = from.Icmp.PingAsync(IPAddress.Parse(to), payloadLength: 1000);
            Assert.True(s.Driver.RunUntil(() => from.Icmp.Events[IcmpEvent.EchoRepliesReceived] > before, TimeSpan.FromSeconds(2)));
            Assert.Equal(delay * 2, await ping);
        }
        // A big ping is fragmented both ways and still takes exactly two delays.
        long count = s.A.Icmp.Events[IcmpEvent.EchoRepliesReceived];
        Task<TimeSpan> big = s.A.Icmp.PingAsync(IPAddress.Parse("fd00::2"), payloadLength: 5000);
        Assert.True(s.Driver.RunUntil(() => s.A.Icmp.Events[IcmpEvent.EchoRepliesReceived] > count, TimeSpan.FromSeconds(2)));
        Assert.Equal(delay * 2, await big);
        Assert.True(s.B.Events[IpEvent.DatagramsReassembled] >= 1);
        Assert.Equal(4 + 1, s.A.Icmp.Events[IcmpEvent.EchoRepliesSent] + s.B.Icmp.Events[IcmpEvent.EchoRepliesSent]);
    }

    [Fact]
    public async Task Ping_UnderLoss_EitherAnswersWithinBoundsOrTimesOut()
    {
        var delay = TimeSpan.FromMilliseconds(2);
        using var s = new TwoStacks(Rough with { LossPercent = 20 }, seed: 5);
        int answered = 0, timedOut = 0;
        for (int i = 0; i < 12; i++)
        {
            NetworkStack from = i % 2 == 0 ? s.A : s.B;
            string to = (i % 4) switch { 0 => "10.0.0.2", 1 => "10.0.0.1", 2 => "fd00::2", _ => "fd00::1" };
            long before = from.Icmp.Events[IcmpEvent.EchoRepliesReceived];
            Task<TimeSpan> ping = from.Icmp.PingAsync(IPAddress.Parse(to), timeout: TimeSpan.FromSeconds(1));
            if (s.Driver.RunUntil(() => from.Icmp.Events[IcmpEvent.EchoRepliesReceived] > before, TimeSpan.FromSeconds(1.5)))
            {
                TimeSpan rtt = await ping;
                Assert.InRange(rtt, delay * 2, (delay + Rough.ReorderExtraDelay) * 2);
                answered++;
            }
            else
            {
                await Assert.ThrowsAsync<TimeoutException>(() => ping);
                timedOut++;
            }
        }
        Assert.True(answered > 0, "some pings answered");
        Assert.Equal(12, answered + timedOut);
    }

    [Fact]
    public async Task ConnectedUdp_ToAClosedPortAcrossTheWire_GetsConnectionRefused()
    {
        using var s = new TwoStacks(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(1) }, seed: 9);
        foreach (string peer in new[] { "10.0.0.2", "fd00::2" })
        {
            using var a = s.A.Udp.CreateEndpoint();
            a.Connect(new IPEndPoint(IPAddress.Parse(peer), 9));
            a.SendTo(new byte[3000]); // fragmented: the error quotes a reassembled datagram's first bytes
            ValueTask<UdpReceiveFromResult> receive = a.ReceiveFromAsync(new byte[10]);
            s.Driver.RunUntil(() => receive.IsCompleted, TimeSpan.FromSeconds(1));
            var e = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () => await receive);
            Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, e.SocketErrorCode);
        }
    }
}
