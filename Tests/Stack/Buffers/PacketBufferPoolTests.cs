using System.Net;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Tests.Stack.Network;

namespace NetStack.Tests.Stack.Buffers;

/// <summary>The pool's global cap: what live packets pin (LiveBytes), and the stack dropping inbound packets past it.</summary>
public class PacketBufferPoolTests
{
    [Fact]
    public void LiveBytes_CountsWholeChunksOfLivePacketsOnly()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions { MaxLiveBytes = 20_000 });
        PacketBuffer small = pool.Rent(10);            // a 2 KiB chunk
        PacketBuffer large = pool.Rent(10_000);        // a 16 KiB chunk
        Assert.Equal(2048 + 16_384, pool.LiveBytes);
        Assert.False(pool.IsOverLimit);
        PacketBuffer third = pool.Rent(10);
        Assert.True(pool.IsOverLimit);                 // 20 480 > 20 000
        foreach (PacketBuffer p in new[] { small, large, third })
        {
            p.Release();
        }
        Assert.Equal(0, pool.LiveBytes);               // free chunks kept by the pool do not count
        Assert.False(pool.IsOverLimit);
    }

    [Fact]
    public void Deliver_PoolOverItsCap_DropsInboundPacketsAndCountsThem()
    {
        using var h = new StackHarness(debugPool: false, maxPoolBytes: 8192);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        var held = new List<PacketBuffer>();
        for (int i = 0; i < 4; i++)
        {
            held.Add(h.Pool.Rent(10)); // 4 × 2 KiB: the cap is reached
        }
        h.Inject(Pkt.Udp4([1])); // its own chunk takes the pool past the cap
        Assert.Equal(0, udp.Available);
        Assert.Equal(1, h.Stack.Drops[IpDropReason.PoolLimit]);
        held.ForEach(p => p.Release());
        h.Inject(Pkt.Udp4([2]));
        Assert.Equal(1, udp.Available);
        Assert.True(udp.TryReceive(new byte[4], out _));
    }
}
