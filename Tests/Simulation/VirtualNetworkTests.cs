// The harness's network: names and DNS, TCP and UDP between hosts, subnets joined by routers, virtual time.
using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Simulation;

namespace NetStack.Tests.Simulation;

public partial class VirtualNetworkTests
{
    [Fact(Timeout = 60_000)]
    public async Task AddHost_TwoHosts_ResolveEachOtherByName_AndExchangeBytesOverTcp()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost api = net.AddHost("api"), db = net.AddHost("db");
        Assert.Equal([IPAddress.Parse("10.0.0.1"), IPAddress.Parse("fd00::1")], net.Resolve("api"));
        Assert.Equal([IPAddress.Parse("10.0.0.2"), IPAddress.Parse("fd00::2")], net.Resolve("DB."));
        string reply = await net.RunAsync(async () =>
        {
            VirtualListener listener = db.Listen(5432);
            Stream client = await api.ConnectAsync("db", 5432);
            Stream server = await listener.AcceptAsync();
            await client.WriteAsync("ping"u8.ToArray());
            byte[] buffer = new byte[16];
            int n = await server.ReadAsync(buffer);
            await server.WriteAsync(buffer.AsMemory(0, n));
            n = await client.ReadAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, n);
        });
        Assert.Equal("ping", reply);
        Assert.Equal(1, api.Summary().ConnectionsEstablished);
    }

    [Fact(Timeout = 60_000)]
    public async Task ConnectAsync_UnknownHost_FailsAsDnsWould_AndAClosedPortIsRefused()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost api = net.AddHost("api");
        net.AddHost("db");
        var unknown = await Assert.ThrowsAsync<SocketException>(() => net.RunAsync(() => api.ConnectAsync("cache", 6379)));
        Assert.Equal(SocketError.HostNotFound, unknown.SocketErrorCode);
        var refused = await Assert.ThrowsAsync<SocketException>(() => net.RunAsync(() => api.ConnectAsync("db", 6379)));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact(Timeout = 60_000)]
    public async Task BindUdp_SendToByName_ArrivesFromTheSendersAddress()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost a = net.AddHost("a"), b = net.AddHost("b");
        var (text, from) = await net.RunAsync(async () =>
        {
            VirtualUdpSocket server = b.BindUdp(53), client = a.BindUdp();
            client.SendTo("query"u8, "b", 53);
            byte[] buffer = new byte[64];
            var result = await server.ReceiveAsync(buffer);
            return (Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes), result.RemoteEndPoint.Address);
        });
        Assert.Equal("query", text);
        Assert.Equal(a.Ipv4, from.IsIPv4MappedToIPv6 ? from.MapToIPv4() : from);
    }

    [Fact(Timeout = 60_000)]
    public async Task AddRouter_HostsOnTwoSubnets_ReachEachOtherThroughIt_WithItsOwnDelay()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualSubnet east = net.AddSubnet("east", "10.0.1.0/24", "fd01::/64");
        VirtualHost web = net.AddHost("web"), store = net.AddHost("store", east);
        VirtualRouter router = net.AddRouter("r1", net.DefaultSubnet, east);
        router.B.Outbound = new NetStack.Link.Simulation.ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(50) };
        Assert.Equal(IPAddress.Parse("10.0.1.1"), store.Ipv4);
        TimeSpan handshake = await net.RunAsync(async () =>
        {
            VirtualListener listener = store.Listen(80);
            TimeSpan start = net.Now;
            await using Stream client = await web.ConnectAsync("store", 80);
            TimeSpan connected = net.Now - start;
            await using Stream server = await listener.AcceptAsync();
            return connected;
        });
        // SYN towards east waits 50 ms at the router's east port; the SYN-ACK back does not.
        Assert.InRange(handshake, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(60));
        Assert.Equal(1, store.Summary().ConnectionsEstablished);
    }

    [Fact(Timeout = 60_000)]
    public async Task AddRouter_ThreeSubnetsInALine_ForwardAcrossTwoRouters_IPv6Too()
    {
        await using var net = new VirtualNetwork(seed: 3, NetworkTime.Virtual);
        VirtualSubnet b = net.AddSubnet("b", "10.0.1.0/24", "fd01::/64"), c = net.AddSubnet("c", "10.0.2.0/24", "fd02::/64");
        VirtualHost left = net.AddHost("left"), right = net.AddHost("right", c);
        net.AddRouter("r1", net.DefaultSubnet, b);
        net.AddRouter("r2", b, c);
        await net.RunAsync(async () =>
        {
            right.Listen(9);
            await using Stream s = await left.ConnectAsync(right.Ipv6.ToString(), 9);
        });
        Assert.Equal(1, right.Summary().ConnectionsEstablished);
    }

    [Fact(Timeout = 60_000)]
    public async Task Delay_AnHourOfVirtualTime_PassesInWallMilliseconds()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        net.AddHost("a");
        var wall = System.Diagnostics.Stopwatch.StartNew();
        await net.RunAsync(() => net.Delay(TimeSpan.FromHours(1)));
        Assert.Equal(TimeSpan.FromHours(1), net.Now);
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(10), $"{wall.Elapsed}");
    }

    [Fact(Timeout = 60_000)]
    public async Task RunAsync_AWaitThatCanNeverComplete_FailsWithTheSummary_NotAHang()
    {
        await using var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        net.AddHost("a");
        var e = await Assert.ThrowsAsync<TimeoutException>(() => net.RunAsync(() => net.WaitUntil(() => false), TimeSpan.FromSeconds(30)));
        Assert.Contains("virtual network, seed 1", e.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposeAndCheckLeaks_ConnectionAndListenerNeverDisposed_ReportsThem_WithoutHanging()
    {
        var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        var listener = api.Stack.Tcp.Listen(new IPEndPoint(api.Ipv4, 80)); // the stack's own API: the harness does not track it
        await net.RunAsync(async () =>
        {
            Stream stream = await app.ConnectAsync("api", 80); // tracked: the harness closes it
            await stream.WriteAsync("hi"u8.ToArray());
        });
        string? report = await net.DisposeAndCheckLeaksAsync();
        Assert.NotNull(report);
        Assert.Contains("api: 1 TCP connection(s) not closed, 1 TCP listener(s) and 0 UDP socket(s) still open", report);
        Assert.DoesNotContain("app:", report); // its side closed once the harness disposed its stream
        GC.KeepAlive(listener);
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposeAndCheckLeaks_EverythingMadeThroughTheHarness_ReportsNoConnectionListenerOrSocket()
    {
        var net = new VirtualNetwork(seed: 1, NetworkTime.Virtual);
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        VirtualListener listener = api.Listen(80);
        await net.RunAsync(async () =>
        {
            Stream client = await app.ConnectAsync("api", 80);
            Stream server = await listener.AcceptAsync(); // tracked too: the harness closes both ends
            await client.WriteAsync("hi"u8.ToArray());
            Assert.Equal((byte)'h', (await ReadSome(server))[0]);
        });
        string report = await net.DisposeAndCheckLeaksAsync() ?? "";
        // Both ends close, then the stacks go (disposing a stack ends what is left of its connections): no
        // connection, listener, socket or packet buffer is reported.
        Assert.Equal("", report);
    }

    private static async Task<byte[]> ReadSome(Stream stream)
    {
        byte[] buffer = new byte[16];
        int n = await stream.ReadAsync(buffer);
        return buffer[..n];
    }
}
