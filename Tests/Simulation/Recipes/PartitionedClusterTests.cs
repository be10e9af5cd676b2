// Recipe: a three-node cluster in virtual time; one link is partitioned, the cluster routes around it, then heals.
using NetStack.Simulation;

namespace NetStack.Tests.Simulation.Recipes;

public class PartitionedClusterTests
{
    [Fact(Timeout = 60_000)]
    public async Task Connect_PartitionedPeer_TimesOut_OthersAnswer_AndRepairHeals()
    {
        await using var net = new VirtualNetwork(seed: 7, NetworkTime.Virtual);
        VirtualHost n1 = net.AddHost("n1"), n2 = net.AddHost("n2"), n3 = net.AddHost("n3");
        n2.Listen(7000);
        n3.Listen(7000);
        await net.RunAsync(async () =>
        {
            net.Partition("n1", "n2");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), net.Clock);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => n1.ConnectAsync("n2", 7000, timeout.Token));
            await using Stream viaN3 = await n1.ConnectAsync("n3", 7000); // the rest of the cluster answers
            net.Repair("n1", "n2");
            await using Stream healed = await n1.ConnectAsync("n2", 7000);
        });
        Assert.InRange(net.Now, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(6)); // virtual seconds, not wall seconds
        Assert.True(n1.Link.Drops[FaultDrop.Partition] > 0);
    }
}
