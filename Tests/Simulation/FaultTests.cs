// Faults changed while traffic flows: partitions and repairs, hold and release, rules on chosen packets, link
// down/up, the MTU black hole, and configuration errors that fail when set, naming their field.
using System.Text;
using NetStack.Link.Simulation;
using NetStack.Simulation;

namespace NetStack.Tests.Simulation;

public class FaultTests
{
    private static async Task<(VirtualNetwork Net, VirtualHost A, VirtualHost B)> PairAsync(int seed = 1)
    {
        var net = new VirtualNetwork(seed, NetworkTime.Virtual);
        VirtualHost a = net.AddHost("a"), b = net.AddHost("b");
        await Task.CompletedTask;
        return (net, a, b);
    }

    [Fact(Timeout = 60_000)]
    public async Task Partition_DropsBothWays_AndRepair_LetsTheRetransmissionThrough()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            string got = await net.RunAsync(async () =>
            {
                VirtualListener listener = b.Listen(7);
                Stream client = await a.ConnectAsync("b", 7);
                Stream server = await listener.AcceptAsync();
                net.Partition("a", "b");
                await client.WriteAsync("late"u8.ToArray());
                await net.Delay(TimeSpan.FromSeconds(3));
                Assert.True(a.Link.Drops[FaultDrop.Partition] > 0);
                net.Repair("a", "b");
                byte[] buffer = new byte[8];
                int n = await server.ReadAsync(buffer);
                return Encoding.ASCII.GetString(buffer, 0, n);
            });
            Assert.Equal("late", got);
            Assert.True(a.Summary().RetransmissionTimeouts > 0);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Hold_KeepsEveryPacket_AndRelease_DeliversThemInOrder_WithoutLoss()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            VirtualUdpSocket receiver = b.BindUdp(9), sender = a.BindUdp();
            List<int> order = await net.RunAsync(async () =>
            {
                net.Hold("a", "b");
                for (int i = 0; i < 5; i++)
                {
                    sender.SendTo([(byte)i], "b", 9);
                }
                await net.Delay(TimeSpan.FromSeconds(10));
                Assert.Equal(0, receiver.Endpoint.Available);
                net.Release("a", "b");
                var seen = new List<int>();
                byte[] buffer = new byte[4];
                for (int i = 0; i < 5; i++)
                {
                    await receiver.ReceiveAsync(buffer);
                    seen.Add(buffer[0]);
                }
                return seen;
            });
            Assert.Equal([0, 1, 2, 3, 4], order);
            Assert.Equal(0, a.Link.Drops.Total);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task AddRule_DropTheThirdSyn_TheConnectionStillOpens_AfterOneMoreRetry()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            int syns = 0;
            using IDisposable rule = net.AddRule(p => p.IsSyn && p.To == "b" && p.DestinationPort == 5432 && ++syns == 3);
            await net.RunAsync(async () =>
            {
                b.Listen(5432);
                await (await a.ConnectAsync("b", 5432)).DisposeAsync();
                await (await a.ConnectAsync("b", 5432)).DisposeAsync();
                await (await a.ConnectAsync("b", 5432)).DisposeAsync(); // its first SYN is the third: dropped, then resent
            });
            Assert.Equal(4, syns);
            Assert.Equal(1, a.Link.Drops[FaultDrop.Rule]);
            Assert.Equal(1, a.Summary().RetransmissionTimeouts);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task AddRule_ResetAfterAMebibyte_TheReceiverSeesAResetAndNoByteBeyondIt()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            const int limit = 1 << 20;
            long sent = 0, received = 0;
            using IDisposable rule = net.AddRule(p => p.From == "a" && p.IsTcp && p.PayloadLength > 0 && (sent += p.PayloadLength) > limit, FaultAction.Reset);
            await net.RunAsync(async () =>
            {
                VirtualListener listener = b.Listen(80);
                Stream client = await a.ConnectAsync("b", 80);
                Stream server = await listener.AcceptAsync();
                byte[] chunk = new byte[64 * 1024], buffer = new byte[64 * 1024];
                await Assert.ThrowsAnyAsync<IOException>(async () =>
                {
                    for (int i = 0; i < 32; i++) // 2 MiB in all, a chunk written then read back in turn
                    {
                        await client.WriteAsync(chunk);
                        int n = await server.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
                        received += n;
                        if (n < buffer.Length)
                        {
                            throw new InvalidOperationException("the stream ended without a reset");
                        }
                    }
                });
            });
            Assert.True(b.Stack.Tcp.Events[NetStack.Tcp.TcpEvent.ResetsReceived] >= 1);
            Assert.InRange(received, 1, limit); // the segment that crossed 1 MiB became the reset
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task LinkDown_TheSwitchDropsEverything_AndUp_RestoresIt()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            VirtualUdpSocket receiver = b.BindUdp(9), sender = a.BindUdp();
            await net.RunAsync(async () =>
            {
                b.Link.Down();
                sender.SendTo("lost"u8, "b", 9);
                await net.Delay(TimeSpan.FromMilliseconds(10));
                Assert.False(b.Link.IsUp);
                b.Link.Up();
                sender.SendTo("kept"u8, "b", 9);
                byte[] buffer = new byte[8];
                var result = await receiver.ReceiveAsync(buffer);
                Assert.Equal("kept", Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes));
            });
            Assert.Equal(1, net.DefaultSubnet.Drops[InMemorySwitchDrop.Disconnected]);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Mtu_SmallerThanADatagram_DropsIt_AsABlackHole_AndCountsIt()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync();
        await using (net)
        {
            VirtualUdpSocket receiver = b.BindUdp(9), sender = a.BindUdp();
            a.Link.Mtu = 576;
            await net.RunAsync(async () =>
            {
                sender.SendTo(new byte[1000], "b", 9);
                sender.SendTo(new byte[100], "b", 9);
                byte[] buffer = new byte[2000];
                var result = await receiver.ReceiveAsync(buffer);
                Assert.Equal(100, result.ReceivedBytes);
            });
            Assert.Equal(1, a.Link.Drops[FaultDrop.TooBig]);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Outbound_GilbertElliottBursts_ChangedMidRun_TakeEffectAndAreCountedAsLoss()
    {
        (VirtualNetwork net, VirtualHost a, VirtualHost b) = await PairAsync(seed: 7);
        await using (net)
        {
            VirtualUdpSocket receiver = b.BindUdp(9), sender = a.BindUdp();
            await net.RunAsync(async () =>
            {
                for (int i = 0; i < 100; i++)
                {
                    sender.SendTo([1], "b", 9);
                }
                await net.Delay(TimeSpan.FromMilliseconds(1));
                Assert.Equal(100, receiver.Endpoint.Available);
                a.Link.Outbound = new ImpairmentOptions { BurstLoss = new GilbertElliottLoss { GoodToBadPercent = 10, BadToGoodPercent = 30 } };
                for (int i = 0; i < 1000; i++)
                {
                    sender.SendTo([2], "b", 9);
                }
                await net.Delay(TimeSpan.FromMilliseconds(1));
            });
            long lost = a.Link.OutboundStage!.DroppedLoss;
            Assert.InRange(lost, 150, 400); // stationary bad share p/(p+r) = 25 %
            Assert.Equal(1100 - lost, receiver.Endpoint.Available);
        }
    }

    [Fact]
    public void Configuration_Invalid_FailsWhenSet_NamingTheField()
    {
        using var net = new VirtualNetwork();
        VirtualHost a = net.AddHost("a");
        Assert.Equal("Delay", Assert.Throws<ArgumentOutOfRangeException>(() => a.Link.Outbound = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(-1) }).ParamName);
        Assert.Equal("RateBitsPerSecond", Assert.Throws<ArgumentOutOfRangeException>(() => a.Link.Inbound = new ImpairmentOptions { RateBitsPerSecond = -5 }).ParamName);
        Assert.Equal("LossPercent", Assert.Throws<ArgumentOutOfRangeException>(() => a.Link.Set(new ImpairmentOptions { LossPercent = 101 })).ParamName);
        Assert.Equal("GoodToBadPercent", Assert.Throws<ArgumentOutOfRangeException>(() => a.Link.Outbound = new ImpairmentOptions { BurstLoss = new GilbertElliottLoss { GoodToBadPercent = -1 } }).ParamName);
        Assert.Equal("Mtu", Assert.Throws<ArgumentOutOfRangeException>(() => a.Link.Mtu = 20).ParamName);
        Assert.Equal("ipv4Prefix", Assert.Throws<ArgumentException>(() => net.AddSubnet("other", "10.0.0.128/25", "fd01::/64")).ParamName);
        Assert.Equal("ipv6Prefix", Assert.Throws<ArgumentException>(() => net.AddSubnet("other", "10.0.1.0/24", "fd00::/48")).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => net.AddHost("a")).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => net.AddHost("not_a_name")).ParamName);
        Assert.Contains("'ghost'", Assert.Throws<KeyNotFoundException>(() => net.Partition("a", "ghost")).Message);
        Assert.Equal("Mtu", Assert.Throws<ArgumentOutOfRangeException>(() => new VirtualNetwork(new VirtualNetworkOptions { Mtu = 100 })).ParamName);
        Assert.Equal("options.Ipv4", Assert.Throws<ArgumentException>(() => net.AddHost("c", options: new VirtualHostOptions { Ipv4 = System.Net.IPAddress.Parse("192.168.0.1") })).ParamName);
        Assert.Null(a.Link.Outbound); // nothing half-applied
    }
}
