// AddressLru against a reference model: the tables grow on demand, yet evict exactly as a fixed-size LRU would.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Network;

namespace NetStack.Tests.Stack.Network;

public class AddressLruTests
{
    /// <summary>Random adds, finds and removes over a small address space: same membership and eviction order as a list-based LRU.</summary>
    [Property(MaxTest = 200)]
    public Property Operations_MatchReferenceLru_AtEveryCapacity() => Prop.ForAll(
        Gen.Choose(1, 40).ToArbitrary(),
        Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 2), Gen.Choose(0, 60))).ToArbitrary(),
        (capacity, operations) =>
        {
            var lru = new AddressLru<int>(capacity);
            var model = new List<(uint Key, int Value)>(); // most recent last
            foreach ((int op, int k) in operations)
            {
                uint key = (uint)k;
                NetAddress address = NetAddress.FromV4(key);
                int at = model.FindIndex(e => e.Key == key);
                switch (op)
                {
                    case 0:
                        ref int value = ref lru.GetOrAdd(address, out bool added);
                        if (added != (at < 0) || (!added && value != model[at].Value))
                        {
                            return false;
                        }
                        if (at >= 0)
                        {
                            model.RemoveAt(at);
                        }
                        else if (model.Count == capacity)
                        {
                            model.RemoveAt(0);
                        }
                        value = k * 7;
                        model.Add((key, value));
                        break;
                    case 1:
                        int found = lru.Find(address, out bool present);
                        if (present != (at >= 0) || (present && found != model[at].Value))
                        {
                            return false;
                        }
                        if (present)
                        {
                            (uint, int) entry = model[at];
                            model.RemoveAt(at);
                            model.Add(entry);
                        }
                        break;
                    default:
                        if (lru.Remove(address) != (at >= 0))
                        {
                            return false;
                        }
                        if (at >= 0)
                        {
                            model.RemoveAt(at);
                        }
                        break;
                }
                if (lru.Count != model.Count || lru.Count > capacity)
                {
                    return false;
                }
            }
            return lru.Capacity == capacity;
        });

    [Fact]
    public void GetOrAdd_PastCapacity_EvictsLeastRecentlyUsed()
    {
        var lru = new AddressLru<int>(100);
        for (uint i = 0; i < 100; i++)
        {
            lru.GetOrAdd(NetAddress.FromV4(i), out _) = (int)i;
        }
        lru.Find(NetAddress.FromV4(0), out _); // 0 becomes the most recent; 1 is now the oldest
        lru.GetOrAdd(NetAddress.FromV4(1000), out bool added);
        Assert.True(added);
        Assert.Equal(100, lru.Count);
        lru.Find(NetAddress.FromV4(1), out bool oldest);
        lru.Find(NetAddress.FromV4(0), out bool touched);
        Assert.False(oldest);
        Assert.True(touched);
    }
}
