// InMemoryNetwork: addressing, the switch (forwarding by destination, routes, floods, drops by reason), partitions
// and impairments changed at run time, per-host capture, deterministic replay with three hosts, live mode, and a
// teardown that leaves no buffer behind.
using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using NetStack.Buffers;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Udp;

namespace NetStack.Tests.LinkEndpoint.Simulation;

public class InMemoryNetworkTests
{
    private static InMemoryNetwork Deterministic(LeakCheckedPool pool, int seed = 1) =>
        new(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Seed = seed, Pool = pool.Pool });

    /// <summary>
    /// A numbered IPv4 UDP packet from the host to <paramref name="destination"/>, put straight into its outbound
    /// queue. Its checksums no longer match (the addresses changed): the receiving link counts it, then drops it, so
    /// no stack answers and only the switch's work shows.
    /// </summary>
    private static void SendRaw(InMemoryHost from, LeakCheckedPool pool, string destination, int index = 0)
    {
        byte[] bytes = TestPackets.Numbered(index);
        from.Ipv4.TryWriteBytes(bytes.AsSpan(12, 4), out _);
        IPAddress.Parse(destination).TryWriteBytes(bytes.AsSpan(16, 4), out _);
        bytes[27] ^= 0x5A;
        Assert.Equal(1, from.Link.WritePackets([pool.Pool.RentCopy(bytes)]));
    }

    private static long Arrived(InMemoryHost host) => host.Link.Events[ChannelEvent.InboundPackets];

    [Fact]
    public void AddHost_GivesEachHostTheNextIpv4AndIpv6Address_OnItsNic()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost first = network.AddHost();
            InMemoryHost second = network.AddHost(new InMemoryHostOptions { Name = "server" });
            InMemoryHost named = network.AddHost(new InMemoryHostOptions { Ipv4 = IPAddress.Parse("10.0.0.50") });
            Assert.Equal([IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), IPAddress.Parse("10.0.0.50")], network.Hosts.Select(h => h.Ipv4));
            Assert.Equal([IPAddress.Parse("fd00::1"), IPAddress.Parse("fd00::2"), IPAddress.Parse("fd00::3")], network.Hosts.Select(h => h.Ipv6));
            Assert.Equal(["host1", "server", "host3"], network.Hosts.Select(h => h.Name));
            Assert.Equal([NetPrefix.Parse("10.0.0.2/24"), NetPrefix.Parse("fd00::2/64")], second.Nic.Addresses);
            Assert.Same(second.Link, second.Nic.Link);
            Assert.Same(network.Clock, first.Stack.Clock);
            Assert.Same(pool.Pool, named.Stack.Pool);
            Assert.Throws<ArgumentException>(() => network.AddHost(new InMemoryHostOptions { Ipv4 = IPAddress.Parse("10.0.0.2") }));
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Switch_DeliversEachPacketToTheHostOwningItsDestination_Only()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = network.AddHost(), b = network.AddHost(), c = network.AddHost();
            using UdpEndpoint atC = c.Stack.Udp.CreateEndpoint();
            atC.Bind(new IPEndPoint(IPAddress.IPv6Any, 53));
            using UdpEndpoint fromA = a.Stack.Udp.CreateEndpoint();
            fromA.SendTo("to c"u8, new IPEndPoint(c.Ipv4, 53));
            fromA.SendTo("to c again"u8, new IPEndPoint(c.Ipv6, 53));
            network.Driver!.RunUntil(() => atC.Available == 2, TimeSpan.FromSeconds(1));
            Assert.Equal(2, atC.Available);
            Assert.Equal(0, Arrived(b));
            Assert.Equal(0, network.Drops.Total);
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Switch_UnknownOrMalformedDestination_IsDroppedByReason_BroadcastReachesEveryOtherHost()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = network.AddHost(), b = network.AddHost(), c = network.AddHost();
            SendRaw(a, pool, "10.0.0.99");
            Assert.Equal(1, a.Link.WritePackets([pool.Pool.RentCopy([0x45, 0, 0])])); // shorter than an IPv4 header
            SendRaw(a, pool, "255.255.255.255");
            network.Driver!.PumpOnce();
            Assert.Equal(1, network.Drops[InMemorySwitchDrop.NoRoute]);
            Assert.Equal(1, network.Drops[InMemorySwitchDrop.Malformed]);
            Assert.Equal((0, 1, 1), (Arrived(a), Arrived(b), Arrived(c)));
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void AddRoute_PacketsForAnotherSubnet_GoToTheRoutersPort()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = network.AddHost(), router = network.AddHost(), other = network.AddHost();
            network.AddRoute(IPNetwork.Parse("192.168.7.0/24"), router);
            SendRaw(a, pool, "192.168.7.20");
            SendRaw(a, pool, "192.168.8.20");
            network.Driver!.PumpOnce();
            Assert.Equal((1, 0), (Arrived(router), Arrived(other)));
            Assert.Equal(1, network.Drops[InMemorySwitchDrop.NoRoute]);
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Attach_OneStackOnTwoNetworks_GetsANicOnEach_ReachesBoth_AndOutlivesThem()
    {
        using var pool = new LeakCheckedPool();
        var clock = new NetStack.Simulation.ManualClock();
        using var router = new NetworkStack(new NetworkStackOptions { TimeProvider = clock, Pool = pool.Pool });
        var left = new InMemoryNetwork(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Clock = clock, Pool = pool.Pool, Name = "left" });
        var right = new InMemoryNetwork(new InMemoryNetworkOptions
        {
            Mode = InMemoryNetworkMode.Deterministic,
            Clock = clock,
            Pool = pool.Pool,
            Ipv4Subnet = IPNetwork.Parse("10.0.1.0/24"),
            Ipv6Subnet = IPNetwork.Parse("fd01::/64"),
            Name = "right",
        });
        InMemoryHost leftPort = left.Attach(router, new InMemoryHostOptions { Name = "r-left", Ipv4 = IPAddress.Parse("10.0.0.254") });
        InMemoryHost rightPort = right.Attach(router);
        InMemoryHost a = left.AddHost(), b = right.AddHost();
        Assert.Equal(["r-left", "host1"], router.Nics.Select(n => n.Name));
        Assert.Equal(IPAddress.Parse("10.0.1.1"), rightPort.Ipv4);
        Assert.Equal(IPAddress.Parse("10.0.1.2"), b.Ipv4);
        foreach ((InMemoryNetwork network, InMemoryHost peer) in new[] { (left, a), (right, b) })
        {
            long before = router.Icmp.Events[NetStack.Icmp.IcmpEvent.EchoRepliesReceived];
            _ = router.Icmp.PingAsync(peer.Ipv4, 8, TimeSpan.FromSeconds(1));
            Assert.True(network.Driver!.RunUntil(() => router.Icmp.Events[NetStack.Icmp.IcmpEvent.EchoRepliesReceived] > before, TimeSpan.FromSeconds(1)));
        }
        left.Dispose();
        right.Dispose();
        Assert.True(leftPort.Link.IsClosed && rightPort.Link.IsClosed);
        Assert.False(leftPort.OwnsStack);
        Assert.Equal(2, router.Nics.Count); // the stack is its owner's to dispose
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Connected_False_PartitionsTheHost_BothWays_UntilItIsTrueAgain()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = network.AddHost(), b = network.AddHost();
            b.Connected = false;
            SendRaw(a, pool, "10.0.0.2");
            SendRaw(b, pool, "10.0.0.1");
            network.Driver!.PumpOnce();
            Assert.Equal(2, network.Drops[InMemorySwitchDrop.Disconnected]);
            Assert.Equal((0, 0), (Arrived(a), Arrived(b)));
            b.Connected = true;
            SendRaw(a, pool, "10.0.0.2");
            SendRaw(b, pool, "10.0.0.1");
            network.Driver.PumpOnce();
            Assert.Equal((1, 1), (Arrived(a), Arrived(b)));
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void SetImpairment_AtRunTime_TakesEffectWithTheNextPacket_AndNullRestoresAPerfectWire()
    {
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = network.AddHost(), b = network.AddHost();
            Assert.Null(a.OutboundImpairment);
            a.SetOutboundImpairment(new ImpairmentOptions { LossPercent = 100 });
            b.SetInboundImpairment(new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(5) });
            Assert.True(a.Wire.SplitsGso); // an impaired path carries wire segments, not super-segments
            SendRaw(a, pool, "10.0.0.2", 1);
            network.Driver!.PumpOnce();
            Assert.Equal(1, a.OutboundImpairment!.DroppedLoss);
            Assert.Equal(0, Arrived(b));

            a.SetOutboundImpairment(null);
            SendRaw(a, pool, "10.0.0.2", 2);
            network.Driver.PumpOnce();
            Assert.Null(a.OutboundImpairment);
            Assert.Equal(0, Arrived(b)); // held by b's inbound delay
            Assert.Equal(TimeSpan.FromMilliseconds(5), network.Driver.NextEvent());
            network.Driver.Clock.Advance(TimeSpan.FromMilliseconds(5));
            network.Driver.PumpOnce();
            Assert.Equal(1, Arrived(b));
            Assert.Equal(1, b.InboundImpairment!.Delivered);
            b.SetInboundImpairment(null);
            network.Driver.PumpOnce();
            Assert.False(a.Wire.SplitsGso);
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Capture_RecordsWhatTheHostSentAndWhatItReceived()
    {
        string path = Path.Combine(Path.GetTempPath(), $"netstack-network-{Guid.NewGuid():N}.pcap");
        try
        {
            using var pool = new LeakCheckedPool();
            using (InMemoryNetwork network = Deterministic(pool))
            {
                InMemoryHost a = network.AddHost(new InMemoryHostOptions { PcapPath = path });
                InMemoryHost b = network.AddHost();
                Task<TimeSpan> ping = a.Stack.Icmp.PingAsync(b.Ipv4, 56, TimeSpan.FromSeconds(1));
                Assert.True(network.Driver!.RunUntil(() => a.Stack.Icmp.Events[NetStack.Icmp.IcmpEvent.EchoRepliesReceived] == 1, TimeSpan.FromSeconds(1)));
            }
            pool.AssertNoLeaks();
            var records = Capture.CaptureFiles.Read(path).Records;
            Assert.Equal(2, records.Count);
            Assert.Equal(8, records[0].Data[20]); // echo request, sent
            Assert.Equal(0, records[1].Data[20]); // echo reply, received
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Three hosts, two transfers into the middle one under loss and reordering; the SHA-256 of every packet each host receives, with its virtual time.</summary>
    private static byte[] ThreeHostRun(int seed)
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        using var trace = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var impairment = new ImpairmentOptions { LossPercent = 2, ReorderPercent = 2, ReorderExtraDelay = TimeSpan.FromMilliseconds(2), Delay = TimeSpan.FromMilliseconds(1) };
        using (var network = new InMemoryNetwork(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Seed = seed, Pool = pool.Pool, Gso = GsoSupport.None }))
        {
            InMemoryHost[] hosts = new InMemoryHost[3];
            for (int i = 0; i < 3; i++)
            {
                byte tag = (byte)i;
                hosts[i] = network.AddHost(new InMemoryHostOptions
                {
                    OutboundImpairment = impairment,
                    Inbound = link => new Tracer(link, network.Driver!.Clock, tag, trace),
                });
            }
            using TcpConnectionListener listener = hosts[1].Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
            TcpConnection[] clients = [hosts[0].Stack.Tcp.Connect(new IPEndPoint(hosts[1].Ipv4, 80)), hosts[2].Stack.Tcp.Connect(new IPEndPoint(hosts[1].Ipv6, 80))];
            var servers = new List<TcpConnection>();
            byte[] data = Packets.Payload(200_000, seed);
            int[] sent = new int[2];
            long received = 0;
            var scratch = new byte[65536];
            Assert.True(network.Driver!.RunUntil(() => received == 2 * data.Length, TimeSpan.FromMinutes(5), () =>
            {
                bool progress = false;
                while (listener.TryAccept(out TcpConnection? s))
                {
                    servers.Add(s);
                    progress = true;
                }
                for (int i = 0; i < 2; i++)
                {
                    int n = clients[i].State == TcpState.Established ? clients[i].TryWrite(data.AsSpan(sent[i])) : 0;
                    sent[i] += n;
                    progress |= n > 0;
                }
                foreach (TcpConnection s in servers)
                {
                    for (int n; (n = s.TryRead(scratch)) > 0;)
                    {
                        received += n;
                        progress = true;
                    }
                }
                return progress;
            }));
            foreach (TcpConnection c in clients.Concat(servers))
            {
                c.Abort();
            }
        }
        pool.AssertNoLeaks();
        return trace.GetHashAndReset();
    }

    [Fact]
    public void Deterministic_ThreeHosts_TheSameSeedReplaysByteForByte_AnotherSeedDoesNot()
    {
        byte[] first = ThreeHostRun(seed: 5);
        Assert.Equal(first, ThreeHostRun(seed: 5));
        Assert.NotEqual(first, ThreeHostRun(seed: 6));
    }

    [Fact]
    public async Task Live_TcpRoundTrip_ThenDisposeAsyncStopsEverything()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        await using (var network = new InMemoryNetwork(new InMemoryNetworkOptions { Pool = pool.Pool }))
        {
            Assert.Null(network.Driver);
            InMemoryHost client = network.AddHost(), server = network.AddHost();
            using TcpConnectionListener listener = server.Stack.Tcp.Listen(new IPEndPoint(IPAddress.IPv6Any, 7));
            Task<TcpConnection> accept = listener.AcceptAsync().AsTask();
            await using TcpConnection c = await client.Stack.Tcp.ConnectAsync(new IPEndPoint(server.Ipv6, 7));
            await using TcpConnection s = await accept;
            byte[] data = Packets.Payload(1 << 20, 3);
            Task write = Task.Run(async () =>
            {
                await c.WriteAsync(data);
                c.ShutdownSend();
            });
            var back = new MemoryStream();
            await s.CopyToAsync(back);
            await write;
            Assert.Equal(data, back.ToArray());
            c.Abort();
            s.Abort();
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Dispose_ReleasesEveryPacketHeldOnTheWireOrQueued()
    {
        using var pool = new LeakCheckedPool();
        var network = Deterministic(pool);
        InMemoryHost a = network.AddHost(new InMemoryHostOptions { OutboundImpairment = new ImpairmentOptions { Delay = TimeSpan.FromSeconds(1) } });
        InMemoryHost b = network.AddHost(new InMemoryHostOptions { InboundImpairment = new ImpairmentOptions { Delay = TimeSpan.FromSeconds(1) } });
        SendRaw(a, pool, "10.0.0.2", 1); // held by a's outbound stage
        network.Driver!.PumpOnce();
        SendRaw(b, pool, "10.0.0.1", 2); // queued in b's link, never pumped
        ImpairmentStage stage = a.OutboundImpairment!;
        Assert.Equal(1, stage.HeldCount);
        network.Dispose();
        network.Dispose();
        Assert.True(a.Link.IsClosed && b.Link.IsClosed);
        Assert.Equal(1, stage.Discarded);
        Assert.Throws<ObjectDisposedException>(() => network.AddHost());
        pool.AssertNoLeaks();
    }

    /// <summary>Hashes each packet a host receives, with the virtual time and the host's tag.</summary>
    private sealed class Tracer(IPacketSink inner, NetStack.Simulation.ManualClock clock, byte tag, IncrementalHash trace) : PacketSinkDecorator(inner)
    {
        private readonly byte[] _header = new byte[9];

        public override void Enqueue(PacketBuffer packet)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_header, clock.Elapsed.Ticks);
            _header[8] = tag;
            trace.AppendData(_header);
            trace.AppendData(packet.ToArray());
            Inner.Enqueue(packet);
        }
    }
}
