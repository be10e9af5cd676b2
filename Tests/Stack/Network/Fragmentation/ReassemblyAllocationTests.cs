// Steady-state reassembly allocates nothing per fragment: contexts, fragment lists and counters are reused.
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class ReassemblyAllocationTests
{
    [Fact]
    public void SteadyState_Process_DoesNotAllocate()
    {
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions { DebugTracking = false });
        using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
        byte[] v4 = Frag.Ipv4Datagram(1000);
        Ipv6Datagram v6 = Frag.Ipv6Datagram(1000, hopByHop: true);
        Cut[] cuts = Frag.Cuts(1008, 400, 400);
        byte[][] fragments = [.. cuts.Select(c => Frag.Ipv4Fragment(v4, c)), .. cuts.Reverse().Select(c => Frag.Ipv6Fragment(v6, c))];
        var rented = new PacketBuffer[fragments.Length * 200];
        long fewest = long.MaxValue;

        for (int round = 0; round < 8; round++)
        {
            for (int i = 0; i < rented.Length; i++)
            {
                rented[i] = pool.Pool.RentCopy(fragments[i % fragments.Length]);
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            int completed = 0;
            for (int i = 0; i < rented.Length; i++)
            {
                ReassemblyResult result = r.Process(rented[i]);
                if (result.Packet is { } p)
                {
                    completed++;
                    p.Release();
                }
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(400, completed);
            if (round >= 5)
            {
                fewest = Math.Min(fewest, allocated);
            }
        }
        // 1,200 fragments a round: anything per fragment would show as kilobytes in every round. The least of
        // the settled rounds must be (almost) zero; a single round may catch a one-off runtime allocation
        // (tiered JIT, a GC bookkeeping object) on a busy machine.
        Assert.True(fewest < 256, $"steady-state rounds allocated at least {fewest} bytes");
    }
}
