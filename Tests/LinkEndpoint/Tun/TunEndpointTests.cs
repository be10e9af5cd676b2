// The TUN endpoint's plumbing over a fake device: the decorators at the stack's edge (a tracer, an impairment stage)
// see what is read before GRO and what is drained before it is written, are driven and disposed by the endpoint;
// the channel asks the stack for headroom for the virtio header only when the device has one.
using NetStack.Buffers;
using NetStack.Link.Simulation;
using NetStack.Link.Tun;
using NetStack.Tests.Support;

namespace NetStack.Tests.LinkEndpoint.Tun;

public class TunEndpointTests
{
    /// <summary>Records the bytes of every packet it passes on, and its disposal.</summary>
    private sealed class Recorder(IPacketSink inner) : PacketSinkDecorator(inner)
    {
        private readonly Lock _gate = new();
        private readonly List<byte[]> _seen = [];

        public bool Disposed { get; private set; }

        public List<byte[]> Seen
        {
            get
            {
                lock (_gate)
                {
                    return [.. _seen];
                }
            }
        }

        public override void Enqueue(PacketBuffer packet)
        {
            lock (_gate)
            {
                _seen.Add(packet.ToArray());
            }
            Inner.Enqueue(packet);
        }

        protected override void Dispose(bool disposing) => Disposed = true;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Channel_MaxHeaderLength_IsTheVirtioHeader_OnlyWhenTheDeviceHasOne(bool vnet)
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: vnet);
        using var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false });
        Assert.Equal(vnet ? VirtioNetHeader.Length : 0, endpoint.Channel.MaxHeaderLength);
    }

    [Fact]
    public void Inbound_Decorator_SeesEachPacketReadBeforeGro_AndIsDisposedWithTheEndpoint()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        var dispatcher = new CapturingDispatcher();
        Recorder? recorder = null;
        byte[] first = Packets.Ipv4Udp(Packets.Payload(100, 1)), second = Packets.Ipv4Udp(Packets.Payload(200, 2));
        using (var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions
        {
            Pool = pool.Pool,
            ProbeGroOnWrite = false,
            Inbound = sink => recorder = new Recorder(sink),
        }))
        {
            endpoint.Channel.Attach(dispatcher);
            tun.Send(first);
            tun.Send(second);
            Assert.Equal(2, endpoint.ReadBatch());
            Assert.Equal([first, second], recorder!.Seen);
            Assert.Equal([first, second], dispatcher.Packets.Select(p => p.Bytes));
            Assert.False(recorder.Disposed);
        }
        Assert.True(recorder.Disposed);
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Outbound_Decorators_SeeEachDrainedPacket_ADelayStageHoldsItUntilDue_ThenTheDeviceGetsIt()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        Recorder? recorder = null;
        ImpairmentStage? stage = null;
        byte[] datagram = Packets.Ipv4Udp(Packets.Payload(300, 3));
        using (var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions
        {
            Pool = pool.Pool,
            ProbeGroOnWrite = false,
            Outbound = sink => recorder = new Recorder(stage = new ImpairmentStage(sink, new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(30) }, seed: 1)),
        }))
        {
            endpoint.Start();
            Assert.Equal(1, endpoint.Channel.WritePackets([pool.Pool.RentCopy(datagram)]));
            Assert.Equal(datagram, tun.Receive());
            Assert.Equal([datagram], recorder!.Seen);
            Assert.Equal(1, stage!.Delivered);
        }
        Assert.True(recorder.Disposed);
        stage.Enqueue(pool.Pool.RentCopy(datagram)); // the chain was disposed with the endpoint: refused and counted
        Assert.Equal(1, stage.Discarded);
        pool.AssertNoLeaks();
    }
}
