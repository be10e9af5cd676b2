// ChannelEndpoint: what it advertises, RX validation and GRO on the inbound side, back-pressure and close on the
// outbound side.
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.LinkEndpoint.Channels;

/// <summary>Records what the stack side would see.</summary>
internal sealed class ChannelTestDispatcher : INetworkDispatcher
{
    public List<(NetworkProtocol Protocol, byte[] Bytes, bool Validated, int Segments)> Packets { get; } = [];

    public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet) =>
        Packets.Add((protocol, packet.ToArray(), packet.RxChecksumValidated, packet.SegmentsRepresented));
}

public class ChannelEndpointTests
{
    [Fact]
    public void Advertises_RxOffload_Gso_AndTheDeviceHeaderAsHeadroom()
    {
        var ep = new ChannelEndpoint();
        Assert.Equal(LinkCapabilities.RxChecksumOffload, ep.Capabilities);
        Assert.Equal(GsoSupport.Host, ep.SupportedGso);
        Assert.Equal(65535, ep.GsoMaxSize);
        Assert.Equal(0, ep.MaxHeaderLength);
        Assert.Equal(1500, ep.Mtu);
        Assert.False(ep.IsAttached);
        var none = new ChannelEndpoint(new ChannelEndpointOptions { Gso = GsoSupport.None, DeviceHeaderLength = 10 });
        Assert.Equal(0, none.GsoMaxSize);
        Assert.Equal(10, none.MaxHeaderLength);
    }

    [Fact]
    public void InjectInbound_DeliversValidPacketsMarkedValidated_AndDropsBadOnesByReason()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        var stack = new ChannelTestDispatcher();
        ep.Attach(stack);
        Assert.True(ep.IsAttached);

        byte[] good = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(100));
        byte[] bad = (byte[])good.Clone();
        bad[^1] ^= 1;
        ep.InjectInbound(pool.Pool.RentCopy(good));
        ep.InjectInbound(pool.Pool.RentCopy(bad));
        ep.InjectInbound(pool.Pool.RentCopy(Packets.Ipv6Udp(Packets.Payload(10))));

        Assert.Equal(2, stack.Packets.Count);
        Assert.Equal(good, stack.Packets[0].Bytes);
        Assert.True(stack.Packets[0].Validated);
        Assert.Equal(NetworkProtocol.IPv6, stack.Packets[1].Protocol);
        Assert.Equal(1, ep.RxDrops[RxDropReason.TcpBadChecksum]);
        Assert.Equal(3, ep.Events[ChannelEvent.InboundPackets]);
        Assert.Equal(2, ep.Events[ChannelEvent.InboundDelivered]);
    }

    [Fact]
    public void Inbound_WithoutDispatcher_IsCountedAndReleased()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        ep.InjectInbound(pool.Pool.RentCopy(Packets.Ipv4Udp([1, 2, 3])));
        ep.Attach(new ChannelTestDispatcher());
        ep.Attach(null); // detach
        ep.InjectInbound(pool.Pool.RentCopy(Packets.Ipv4Udp([1, 2, 3])));
        Assert.Equal(2, ep.Events[ChannelEvent.InboundNotAttached]);
    }

    [Fact]
    public void Outbound_IsBounded_FullQueueRefusesAndCounts_ReadsInOrder()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint(new ChannelEndpointOptions { OutboundQueueCapacity = 4 });
        var batch = Enumerable.Range(0, 6).Select(i => pool.Pool.RentCopy([(byte)i])).ToArray();
        int taken = ep.WritePackets(batch);
        Assert.Equal(4, taken);
        Assert.Equal(4, ep.NumQueued);
        Assert.Equal(2, ep.Events[ChannelEvent.OutboundQueueFull]);
        batch[4].Release(); // not taken: still ours
        batch[5].Release();

        using (var first = ep.Read()!) { Assert.Equal(0, first.Head[0]); }
        var buf = new PacketBuffer[8];
        int n = ep.ReadBatch(buf);
        Assert.Equal(3, n);
        Assert.Equal([1, 2, 3], buf[..n].Select(p => (int)p.Head[0]));
        foreach (var p in buf[..n])
        {
            p.Release();
        }
        Assert.Null(ep.Read());
    }

    [Fact]
    public async Task WaitWritableAsync_CompletesWhenAReaderMakesRoom()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint(new ChannelEndpointOptions { OutboundQueueCapacity = 1 });
        Assert.Equal(1, ep.WritePackets([pool.Pool.RentCopy([1])]));
        var extra = pool.Pool.RentCopy([2]);
        Assert.Equal(0, ep.WritePackets([extra]));
        var wait = ep.WaitWritableAsync(CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        ep.Read()!.Release();
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, ep.WritePackets([extra]));
        ep.Close();
    }

    [Fact]
    public async Task ReadAsync_WaitsForAPacket_AndReturnsNullAfterClose()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        var pending = ep.ReadAsync(CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        ep.WritePackets([pool.Pool.RentCopy([9])]);
        using (var p = await pending.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(9, p!.Head[0]);
        }
        var afterClose = ep.ReadAsync(CancellationToken.None).AsTask();
        ep.Close();
        Assert.Null(await afterClose.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Close_IsIdempotent_ReleasesQueued_AndRefusesLaterWrites()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        ep.WritePackets([pool.Pool.RentCopy([1]), pool.Pool.RentCopy([2])]);
        ep.Close();
        ep.Close();
        Assert.True(ep.IsClosed);
        Assert.Equal(0, ep.NumQueued);
        var late = pool.Pool.RentCopy([3]);
        Assert.Equal(0, ep.WritePackets([late]));
        Assert.Equal(1, ep.Events[ChannelEvent.WriteAfterClose]);
        late.Release();
        ep.InjectInbound(pool.Pool.RentCopy(Packets.Ipv4Udp([1])));
        Assert.Equal(1, ep.Events[ChannelEvent.InboundAfterClose]);
    }

    [Fact]
    public async Task Close_ConcurrentWithWritersAndReaders_LeaksNothing()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "close-race");
        for (int round = 0; round < 20; round++)
        {
            var ep = new ChannelEndpoint(new ChannelEndpointOptions { OutboundQueueCapacity = 64 });
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                var one = new PacketBuffer[1];
                while (!ep.IsClosed)
                {
                    one[0] = pool.Rent(100);
                    if (ep.WritePackets(one) == 0)
                    {
                        one[0].Release();
                    }
                }
            })).ToArray();
            var reader = Task.Run(async () =>
            {
                while (await ep.ReadAsync(CancellationToken.None) is { } p)
                {
                    p.Release();
                }
            });
            await Task.Delay(5);
            ep.Close();
            await Task.WhenAll([.. writers, reader]).WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.Equal(0, pool.LiveBuffers);
    }
}

public class ChannelEndpointMetricsTests
{
    [Fact]
    public void RxDrops_AreExportedThroughSystemDiagnosticsMetrics_TaggedByReason()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint(new ChannelEndpointOptions { Name = "metrics-test" });
        byte[] bad = Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(10));
        bad[^1] ^= 1;
        ep.InjectInbound(pool.Pool.RentCopy(bad));
        ep.InjectInbound(pool.Pool.RentCopy(bad));

        long seen = -1;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "netstack.link.channel.rx_drops")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, state) =>
        {
            bool ours = false, reason = false;
            foreach (var t in tags)
            {
                ours |= t.Key == "endpoint" && (string?)t.Value == "metrics-test";
                reason |= t.Key == "reason" && (string?)t.Value == nameof(RxDropReason.TcpBadChecksum);
            }
            if (ours && reason)
            {
                seen = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(2, seen);
        GC.KeepAlive(ep);
    }
}

public class ChannelEndpointGroTests
{
    [Fact]
    public void EnqueueGro_CoalescesAFlowIntoOneValidatedSuperSegment_AtFlush()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        var stack = new ChannelTestDispatcher();
        ep.Attach(stack);
        byte[] payload = Packets.Payload(1448 * 8);
        for (int i = 0; i < 8; i++)
        {
            var tcp = Packets.Tcp(seq: 1000u + (uint)(i * 1448));
            ep.EnqueueGro(pool.Pool.RentCopy(Packets.Ipv4Tcp(tcp, payload.AsSpan(i * 1448, 1448), id: (ushort)(1 + i))));
        }
        Assert.Empty(stack.Packets); // held until the batch ends
        ep.FlushGro();
        var delivered = Assert.Single(stack.Packets);
        Assert.True(delivered.Validated);
        Assert.Equal(8, delivered.Segments);
        Assert.Equal(20 + 20 + (1448 * 8), delivered.Bytes.Length);
        Assert.Equal(payload, delivered.Bytes[40..]);
        Assert.Equal(8, ep.Gro!.Events[NetStack.Gro.GroEvent.PacketsIn]);
    }

    [Fact]
    public void Close_FlushesHeldGroFlows()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint();
        var stack = new ChannelTestDispatcher();
        ep.Attach(stack);
        ep.EnqueueGro(pool.Pool.RentCopy(Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(1448))));
        ep.Close();
        Assert.Single(stack.Packets);
    }

    [Fact]
    public void GroOff_DeliversEachPacketAtOnce()
    {
        using var pool = new LeakCheckedPool();
        var ep = new ChannelEndpoint(new ChannelEndpointOptions { EnableGro = false });
        var stack = new ChannelTestDispatcher();
        ep.Attach(stack);
        ep.EnqueueGro(pool.Pool.RentCopy(Packets.Ipv4Tcp(Packets.Tcp(), Packets.Payload(1448))));
        Assert.Single(stack.Packets);
        Assert.Null(ep.Gro);
    }
}
