using System.Net;
using NetStack.Link;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>SYN cookies (RFC 4987 §3.6): exact handshakes, forged and stale ACKs, and a 100,000-SYN flood in simulation.</summary>
public class TcpSynCookieTests
{
    private static TcpTestHarness Harness(TcpSynCookieMode mode) =>
        new(new TcpProtocolOptions { IsnSecret = [1, 2, 3], RandomSeed = 7, SynCookies = mode });

    [Fact]
    public void Cookie_Handshake_Restores_Mss_Window_Scale_Sack_And_Timestamps()
    {
        using TcpTestHarness h = Harness(TcpSynCookieMode.Always);
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        TcpRepr syn = TcpTestHarness.Peer(5000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1400, WindowScale = 5, SackPermitted = true, Timestamps = new TcpTimestamps(777, 0) };
        h.Inject(syn);
        Segment synAck = h.Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(5001u, synAck.Tcp.AcknowledgmentNumber);
        Assert.Equal(0, h.Tcp.ConnectionCount); // nothing kept
        Assert.Equal(1, h.Tcp.Events[TcpEvent.SynCookiesSent]);
        Assert.NotNull(synAck.Tcp.WindowScale);
        Assert.True(synAck.Tcp.SackPermitted);
        uint tsval = synAck.Tcp.Timestamps!.Value.Value;
        Assert.Equal((5u << 1) | 1u, tsval & 0x1F); // the peer's scale and SACK ride in our TSval

        h.Advance(TimeSpan.FromMilliseconds(5));
        h.Inject(TcpTestHarness.Peer(5001, synAck.Tcp.SequenceNumber + 1, TcpFlags.Ack, window: 1000) with { Timestamps = new TcpTimestamps(800, tsval) }, Packets.Payload(100));
        Assert.True(listener.TryAccept(out TcpConnection? c));
        TcpConnectionStatistics stats = c!.GetStatistics();
        Assert.Equal(TcpState.Established, stats.State);
        Assert.Equal(1300 - 12, stats.MaxSegmentSize); // the cookie's MSS table: the largest entry not above 1400 is 1300
        Assert.True(stats.WindowScaling && stats.Sack && stats.Timestamps);
        Assert.Equal(1000L << 5, stats.SendWindow);
        Assert.Equal(100, c.TryRead(new byte[200])); // data on the ACK was kept
        Assert.Equal(1, h.Tcp.Events[TcpEvent.SynCookiesAccepted]);
        c.Abort();
    }

    [Fact]
    public void Without_Timestamps_The_Cookie_Keeps_Only_The_Mss()
    {
        using TcpTestHarness h = Harness(TcpSynCookieMode.Always);
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        h.Inject(TcpTestHarness.Peer(5000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460, WindowScale = 5, SackPermitted = true });
        Segment synAck = h.Read();
        Assert.Null(synAck.Tcp.WindowScale);   // nothing could carry them back
        Assert.False(synAck.Tcp.SackPermitted);
        Assert.Null(synAck.Tcp.Timestamps);
        h.Inject(TcpTestHarness.Peer(5001, synAck.Tcp.SequenceNumber + 1, TcpFlags.Ack));
        Assert.True(listener.TryAccept(out TcpConnection? c));
        TcpConnectionStatistics stats = c!.GetStatistics();
        Assert.Equal(1460, stats.MaxSegmentSize);
        Assert.False(stats.WindowScaling || stats.Sack || stats.Timestamps);
        c.Abort();
    }

    [Fact]
    public void Forged_And_Stale_Cookies_Are_Reset()
    {
        using TcpTestHarness h = Harness(TcpSynCookieMode.Always);
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        h.Inject(TcpTestHarness.Peer(5000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460 });
        uint cookie = h.Read().Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(5001, cookie + 2, TcpFlags.Ack)); // one off
        Assert.Equal(TcpFlags.Rst, h.Read().Flags);
        h.Inject(TcpTestHarness.Peer(6001, cookie + 1, TcpFlags.Ack)); // another peer ISN
        Assert.Equal(TcpFlags.Rst, h.Read().Flags);
        Assert.Equal(2, h.Tcp.Drops[TcpDropReason.BadSynCookie]);
        h.Advance(TimeSpan.FromMinutes(4)); // past the cookie's lifetime
        h.Inject(TcpTestHarness.Peer(5001, cookie + 1, TcpFlags.Ack));
        Assert.Equal(TcpFlags.Rst, h.Read().Flags);
        Assert.False(listener.TryAccept(out _));
        Assert.Equal(0, h.Tcp.ConnectionCount);
    }

    [Fact]
    public void RandomAcks_ToAListenerThatNeverOverflowed_AreResetWithoutACookieCheck()
    {
        // Linux's tcp_synq_no_recent_overflow: cookies are checked only within two minutes of the listener's last
        // cookie. Before, every bare ACK to a listener was a guess at a cookie.
        using TcpTestHarness h = Harness(TcpSynCookieMode.WhenBacklogFull);
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1);
        (int disarmedChecks, int disarmedAccepted) = InjectRandomAcks(h, 2000, seed: 1);
        Assert.Equal(0, disarmedChecks);
        Assert.Equal(0, disarmedAccepted);
        Assert.Equal(2000, h.Tcp.Drops[TcpDropReason.NoConnection]);

        // Overflow the backlog: the second SYN is answered with a cookie, which arms the check.
        h.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn) with { SourcePort = 1 });
        h.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn) with { SourcePort = 2 });
        Assert.Equal(1, h.Tcp.Events[TcpEvent.SynCookiesSent]);
        while (h.TryRead() is not null)
        {
        }
        (int armedChecks, int armedAccepted) = InjectRandomAcks(h, 2000, seed: 2);
        Assert.Equal(2000, armedChecks);
        Assert.Equal(0, armedAccepted);

        // Two minutes (TCP_SYNCOOKIE_VALID) after the last cookie, the check is off again.
        h.Advance(TimeSpan.FromSeconds(129));
        (int laterChecks, _) = InjectRandomAcks(h, 200, seed: 3);
        Assert.Equal(0, laterChecks);
        Assert.False(listener.TryAccept(out _));
    }

    /// <summary>ACKs with random ports, sequence and acknowledgment numbers: (cookie checks that failed, connections made).</summary>
    private static (int Checked, int Accepted) InjectRandomAcks(TcpTestHarness h, int count, int seed)
    {
        long checkedBefore = h.Tcp.Drops[TcpDropReason.BadSynCookie];
        long acceptedBefore = h.Tcp.Events[TcpEvent.SynCookiesAccepted];
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            h.Inject(TcpTestHarness.Peer((uint)rng.NextInt64(1L << 32), (uint)rng.NextInt64(1L << 32), TcpFlags.Ack) with { SourcePort = (ushort)rng.Next(1024, 65536) });
            while (h.TryRead() is not null)
            {
            }
        }
        return ((int)(h.Tcp.Drops[TcpDropReason.BadSynCookie] - checkedBefore), (int)(h.Tcp.Events[TcpEvent.SynCookiesAccepted] - acceptedBefore));
    }

    [Fact]
    public void Cookies_Start_Only_When_The_Backlog_Is_Full()
    {
        using TcpTestHarness h = Harness(TcpSynCookieMode.WhenBacklogFull);
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 2);
        for (ushort port = 1; port <= 4; port++)
        {
            h.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn) with { SourcePort = port, MaxSegmentSize = 1460 });
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, h.Read().Flags);
        }
        Assert.Equal(2, h.Tcp.ConnectionCount);             // two half-open, then cookies
        Assert.Equal(2, h.Tcp.Events[TcpEvent.SynCookiesSent]);
        using TcpTestHarness never = Harness(TcpSynCookieMode.Never);
        using TcpConnectionListener l2 = never.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1);
        never.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn) with { SourcePort = 1 });
        never.Read();
        never.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn) with { SourcePort = 2 });
        never.ExpectNone();
        Assert.Equal(1, never.Tcp.Drops[TcpDropReason.ListenOverflow]);
    }

    [Fact]
    public void A_Flood_Of_100000_Syns_Leaves_Real_Clients_Served_And_Memory_Bounded_RFC4987()
    {
        var world = new TcpSimulationWorld(null, seed: 31);
        using (world)
        {
            using TcpConnectionListener listener = world.TcpB.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 128);
            var rng = new Random(5);
            const int flood = 100_000;
            int sent = 0, served = 0, maxConnections = 0, maxLiveBuffers = 0;
            var scratch = new byte[4096];
            TcpConnection? client = null, server = null;
            SimulatedFlow? up = null, down = null;
            bool done = world.Driver.RunUntil(() => sent == flood && served >= 20, TimeSpan.FromHours(1), idle: () =>
            {
                bool progress = false;
                // Spoofed SYNs from addresses nobody answers for (10.0.0.3 – 10.0.0.254), a batch per idle step.
                for (int i = 0; i < 500 && sent < flood; i++, sent++)
                {
                    uint source = 0x0A000003u + (uint)rng.Next(252);
                    var syn = TcpTestHarness.Peer((uint)rng.Next(), 0, TcpFlags.Syn) with { SourcePort = (ushort)rng.Next(1024, 65535), MaxSegmentSize = 1460 };
                    var packet = world.Pool.Pool.RentCopy(Packets.Ipv4Tcp(syn, default, src: source, dst: 0x0A000002));
                    packet.NetworkProtocol = NetworkProtocol.IPv4;
                    world.LinkB.InjectInbound(packet);
                    progress = true;
                }
                maxConnections = Math.Max(maxConnections, world.TcpB.ConnectionCount);
                maxLiveBuffers = (int)Math.Max(maxLiveBuffers, world.Pool.Pool.LiveBuffers);
                // A real client keeps making short exchanges through it all.
                if (client is null)
                {
                    client = world.TcpA.Connect(TcpSimulationWorld.ServerEndPoint);
                    up = new SimulatedFlow(2000, served);
                    down = new SimulatedFlow(3000, served + 1);
                    return true;
                }
                if (server is null && listener.TryAccept(out TcpConnection? s))
                {
                    server = s;
                }
                if (server is not null && client.State != TcpState.SynSent)
                {
                    progress |= up!.Pump(client, server, scratch) | down!.Pump(server, client, scratch);
                    if (up.Eof && down.Eof)
                    {
                        up.AssertExact();
                        down.AssertExact();
                        client.Dispose();
                        server.Dispose();
                        client = server = null;
                        served++;
                        progress = true;
                    }
                }
                return progress;
            });
            Assert.True(done, $"sent {sent}, served {served}\n{world.Describe()}");
            Assert.True(world.TcpB.Events[TcpEvent.SynCookiesSent] > flood / 2, $"cookies {world.TcpB.Events[TcpEvent.SynCookiesSent]}");
            Assert.InRange(maxConnections, 1, 128 + 40);         // the backlog plus the real client's connections (TIME-WAIT)
            Assert.InRange(maxLiveBuffers, 0, 20_000);           // SYN-ACKs waiting on the wire, not state per SYN
            Assert.True(world.TcpB.Events[TcpEvent.SynCookiesAccepted] >= 20); // the real client got in by cookie
            world.RunUntilAllClosed(TimeSpan.FromMinutes(10));
        }
        world.AssertNoLeaks();
    }
}
