using System.Net;
using System.Net.Sockets;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Tests.Stack.Network;
using NetStack.Udp;

namespace NetStack.Tests.Stack.Udp;

/// <summary>UDP (RFC 768, RFC 8200 §8.1) at the stack: checksums, queue bound, ports, bind rules, receive.</summary>
public class StackUdpTests
{
    [Fact]
    public void Rfc768_ZeroChecksum_AcceptedOverIpv4()
    {
        using var h = new StackHarness(rawLink: true);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        byte[] data = Pkt.Data(9);
        h.Inject(Pkt.Udp4(data, checksum: false));
        var buffer = new byte[64];
        Assert.True(udp.TryReceive(buffer, out var r));
        Assert.Equal(data, buffer[..r.ReceivedBytes]);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5000), r.RemoteEndPoint);
    }

    [Fact]
    public void Rfc8200_8_1_ZeroChecksum_DroppedOverIpv6()
    {
        using var h = new StackHarness(rawLink: true);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.IPv6Any, 7000));
        h.Inject(Pkt.Udp6(Pkt.Data(9), checksum: false));
        Assert.Equal(0, udp.Available);
        Assert.Equal(1, h.Stack.Udp.Drops[UdpDropReason.ZeroChecksumOverIpv6]);
        h.AssertNothingSent();
    }

    [Fact]
    public void ZeroChecksumOverIpv6_OnTheChannel_IsTheLinksDrop()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.IPv6Any, 7000));
        h.Inject(Pkt.Udp6(Pkt.Data(9), checksum: false));
        Assert.Equal(0, udp.Available);
        Assert.Equal(1, h.Channel!.RxDrops[RxDropReason.UdpZeroChecksumOverIpv6]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc768_BadChecksum_Dropped_OnALinkWithoutOffload(bool v6)
    {
        using var h = new StackHarness(rawLink: true);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, 7000));
        byte[] p = v6 ? Pkt.Udp6(Pkt.Data(9)) : Pkt.Udp4(Pkt.Data(9));
        p[^1] ^= 0x40;
        h.Inject(p);
        Assert.Equal(0, udp.Available);
        Assert.Equal(1, h.Stack.Udp.Drops[UdpDropReason.BadChecksum]);
        h.AssertNothingSent(); // no port unreachable for a corrupt datagram
    }

    [Fact]
    public void UdpLengthField_Inconsistent_IsMalformed()
    {
        using var h = new StackHarness(rawLink: true);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        byte[] p = Pkt.Udp4(Pkt.Data(9));
        p[20 + 5] = 200; // length past the IP payload
        h.Inject(p);
        Assert.Equal(1, h.Stack.Udp.Drops[UdpDropReason.Malformed]);
        // A UDP length shorter than the IP payload: the datagram is what UDP says (RFC 768).
        byte[] data = Pkt.Data(9);
        byte[] d = Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        h.Inject(Pkt.Ip4(NetStack.Wire.IpProtocol.Udp, Pkt.Concat(d, [1, 2, 3, 4])));
        var buffer = new byte[64];
        Assert.True(udp.TryReceive(buffer, out var r));
        Assert.Equal(data, buffer[..r.ReceivedBytes]);
    }

    [Fact]
    public void ReceiveQueue_IsBounded_AndCountsDrops()
    {
        using var h = new StackHarness(udpQueue: 4);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        for (int i = 0; i < 7; i++)
        {
            h.Inject(Pkt.Udp4([(byte)i]));
        }
        Assert.Equal(4, udp.Available);
        Assert.Equal(3, udp.DatagramsDropped);
        Assert.Equal(3, h.Stack.Udp.Drops[UdpDropReason.ReceiveQueueFull]);
        var buffer = new byte[4];
        for (int i = 0; i < 4; i++)
        {
            Assert.True(udp.TryReceive(buffer, out var r));
            Assert.Equal((byte)i, buffer[0]); // the first four, in order
        }
        h.AssertNothingSent();
    }

    [Fact]
    public void ReceiveQueue_IsBoundedInTheMemoryItsDatagramsPin()
    {
        using var h = new StackHarness(udpBytes: 10_000);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        for (int i = 0; i < 7; i++)
        {
            h.Inject(Pkt.Udp4([(byte)i])); // 1 byte each, pinning a 2 KiB chunk and the packet: 2 304 bytes
        }
        Assert.Equal(5, udp.Available); // 0, 2 304, …, 9 216 queued: under 10 000, so one more fits
        Assert.Equal(2, h.Stack.Udp.Drops[UdpDropReason.ReceiveBufferFull]);
        var buffer = new byte[4];
        Assert.True(udp.TryReceive(buffer, out _));
        h.Inject(Pkt.Udp4([7])); // reading made room
        Assert.Equal(5, udp.Available);
        h.AssertNothingSent();
    }

    [Fact]
    public void EphemeralPorts_AreUniqueAndInRange()
    {
        using var h = new StackHarness();
        var endpoints = new List<UdpEndpoint>();
        try
        {
            for (int i = 0; i < 300; i++)
            {
                var e = h.Stack.Udp.CreateEndpoint();
                endpoints.Add(e);
                if (i % 2 == 0)
                {
                    e.Bind(new IPEndPoint(IPAddress.Any, 0));
                }
                else
                {
                    e.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 53));
                }
            }
            var ports = endpoints.Select(e => e.LocalEndPoint!.Port).ToList();
            Assert.Equal(ports.Count, ports.Distinct().Count());
            Assert.All(ports, p => Assert.InRange(p, 49152, 65535));
        }
        finally
        {
            endpoints.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public void EphemeralPorts_Exhausted_AddressAlreadyInUse()
    {
        using var h = new StackHarness(ephemeralMin: 40000, ephemeralMax: 40009);
        var endpoints = new List<UdpEndpoint>();
        try
        {
            endpoints.Add(h.Stack.Udp.CreateEndpoint());
            endpoints[0].Bind(new IPEndPoint(IPAddress.Any, 40003)); // taken explicitly: skipped
            for (int i = 0; i < 9; i++)
            {
                var e = h.Stack.Udp.CreateEndpoint();
                endpoints.Add(e);
                e.Bind(new IPEndPoint(IPAddress.Any, 0));
            }
            var ports = endpoints.Select(e => e.LocalEndPoint!.Port).Order().ToList();
            Assert.Equal(Enumerable.Range(40000, 10), ports);
            using var extra = h.Stack.Udp.CreateEndpoint();
            var ex = Assert.Throws<SocketException>(() => extra.Bind(new IPEndPoint(IPAddress.Any, 0)));
            Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        }
        finally
        {
            endpoints.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public void BindConflicts_AddressAlreadyInUse()
    {
        using var h = new StackHarness();
        using var a = h.Stack.Udp.CreateEndpoint();
        using var b = h.Stack.Udp.CreateEndpoint();
        using var c = h.Stack.Udp.CreateEndpoint();
        using var d = h.Stack.Udp.CreateEndpoint();
        a.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5353));
        var e = Assert.Throws<SocketException>(() => b.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5353)));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        e = Assert.Throws<SocketException>(() => b.Bind(new IPEndPoint(IPAddress.Any, 5353)));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        b.Bind(new IPEndPoint(IPAddress.Parse("fd00::1"), 5353)); // another address: fine
        c.Bind(new IPEndPoint(IPAddress.Any, 6000));
        e = Assert.Throws<SocketException>(() => d.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 6000)));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        // Closing frees the port.
        a.Dispose();
        d.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5353));
    }

    [Fact]
    public async Task ReceiveFromAsync_SmallBuffer_Truncated()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        byte[] data = Pkt.Data(100);
        var pending = udp.ReceiveFromAsync(new Memory<byte>(new byte[10]));
        h.Inject(Pkt.Udp4(data, sport: 4444));
        UdpReceiveFromResult r = await pending;
        Assert.True(r.Truncated);
        Assert.Equal(10, r.ReceivedBytes);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 4444), r.RemoteEndPoint);
        // The rest of that datagram is gone; the next receive gets the next datagram whole.
        h.Inject(Pkt.Udp6(data, sport: 4445));
        var buffer = new byte[200];
        r = await udp.ReceiveFromAsync(buffer);
        Assert.False(r.Truncated);
        Assert.Equal(data, buffer[..r.ReceivedBytes]);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::2"), 4445), r.RemoteEndPoint);
    }

    [Fact]
    public async Task SendToAsync_And_ConnectedFilter()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        udp.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5000));
        Assert.Equal(5, await udp.SendToAsync(new byte[] { 1, 2, 3, 4, 5 }));
        byte[] d = Pkt.CheckUdp(h.SentOne());
        Assert.Equal(Pkt.UdpDatagram([1, 2, 3, 4, 5], 7000, 5000, StackHarness.Local4, StackHarness.Peer4), d);
        // From the connected peer: delivered. From another port: not for this endpoint (port unreachable).
        h.Inject(Pkt.Udp4([9], sport: 5000));
        h.Inject(Pkt.Udp4([8], sport: 5001));
        Assert.Equal(1, udp.Available);
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(new byte[] { 3, 3 }, icmp[..2]);
    }

    [Fact]
    public async Task Dispose_ReleasesQueuedDatagrams_AndWakesReceivers()
    {
        using var h = new StackHarness();
        var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        h.Inject(Pkt.Udp4(Pkt.Data(50)));
        h.Inject(Pkt.Udp4(Pkt.Data(50)));
        udp.Dispose();
        Assert.Equal(0, h.Stack.Udp.BoundCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await udp.ReceiveFromAsync(new byte[10]));
    }
}
