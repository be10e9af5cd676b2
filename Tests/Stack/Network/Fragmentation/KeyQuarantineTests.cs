// KeyQuarantine (RFC 5722 §4): keys stay quarantined until their deadline, the ring grows on demand without
// losing order, and past capacity the oldest key is forgotten first.
using NetStack.Network.Fragmentation;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class KeyQuarantineTests
{
    private static FragmentKey Key(uint id) => new(4, 1, 2, 17, id);

    [Fact]
    public void Add_PastInitialRingAfterWrap_KeepsEveryKeyInOrder()
    {
        var quarantine = new KeyQuarantine(64);
        for (uint i = 0; i < 6; i++)
        {
            quarantine.Add(Key(i), until: 10 + i);
        }
        quarantine.Prune(now: 13); // drops keys 0..3: the ring's head moves, so the next adds wrap
        for (uint i = 6; i < 40; i++)
        {
            quarantine.Add(Key(i), until: 10 + i);
        }
        Assert.Equal(36, quarantine.Count);
        for (uint i = 0; i < 40; i++)
        {
            Assert.Equal(i >= 4, quarantine.Contains(Key(i), now: 0));
        }
        quarantine.Prune(now: 30); // oldest first: keys with deadlines ≤ 30 go, in ring order
        Assert.Equal(19, quarantine.Count);
        Assert.False(quarantine.Contains(Key(20), now: 0));
        Assert.True(quarantine.Contains(Key(21), now: 0));
    }

    [Fact]
    public void Add_PastCapacity_ForgetsOldestKey()
    {
        var quarantine = new KeyQuarantine(20);
        for (uint i = 0; i < 25; i++)
        {
            quarantine.Add(Key(i), until: 1000);
        }
        Assert.Equal(20, quarantine.Count);
        Assert.False(quarantine.Contains(Key(4), now: 0));
        Assert.True(quarantine.Contains(Key(5), now: 0));
        Assert.True(quarantine.Contains(Key(24), now: 0));
    }

    [Fact]
    public void Contains_AfterDeadline_False()
    {
        var quarantine = new KeyQuarantine(4);
        quarantine.Add(Key(1), until: 50);
        Assert.True(quarantine.Contains(Key(1), now: 49));
        Assert.False(quarantine.Contains(Key(1), now: 50));
    }

    [Fact]
    public void Add_ZeroCapacity_RemembersNothing()
    {
        var quarantine = new KeyQuarantine(0);
        quarantine.Add(Key(1), until: 50);
        Assert.False(quarantine.Contains(Key(1), now: 0));
    }
}
