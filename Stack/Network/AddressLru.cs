// Layer: network. A bounded table keyed by address with O(1) lookup, insertion and eviction of the least
// recently used entry: the storage behind the path-MTU cache and the per-address rate limiters, so state an
// attacker can make grow (one entry per forged address) stays bounded (docs/ARCHITECTURE.md §6).
namespace NetStack.Network;

/// <summary>
/// Up to a fixed number of values keyed by <see cref="NetAddress"/>, in recency order: a full table evicts its
/// least recently touched entry. The arrays start small and double as entries arrive, up to the capacity (an idle
/// stack holds kilobytes, not the worst case: thousands of stacks share one process in a simulation); the
/// dictionary holds indices. Not thread-safe: the owner locks. Values are returned by reference, valid until the
/// next call that can add or remove.
/// </summary>
internal sealed class AddressLru<TValue> where TValue : struct
{
    private const int InitialSlots = 8;

    private readonly Dictionary<NetAddress, int> _index = [];
    private readonly int _capacity;
    private NetAddress[] _keys;
    private TValue[] _values;
    private int[] _older;
    private int[] _newer;
    private int _oldest = -1;
    private int _newest = -1;
    private int _used;      // slots handed out so far (then reused through _free)
    private int _free = -1; // a chain of removed slots through _newer

    internal AddressLru(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        int slots = Math.Min(capacity, InitialSlots);
        _keys = new NetAddress[slots];
        _values = new TValue[slots];
        _older = new int[slots];
        _newer = new int[slots];
    }

    internal int Count => _index.Count;

    internal int Capacity => _capacity;

    /// <summary>The entry for <paramref name="key"/>, made the most recent; <paramref name="found"/> false (and a dummy reference) when absent.</summary>
    internal ref TValue Find(NetAddress key, out bool found)
    {
        found = _index.TryGetValue(key, out int slot);
        if (!found)
        {
            return ref _values[0];
        }
        Touch(slot);
        return ref _values[slot];
    }

    /// <summary>
    /// The entry for <paramref name="key"/>, made the most recent; a new one holds <c>default</c> and says
    /// <paramref name="added"/>. A full table first forgets its least recently used entry.
    /// </summary>
    internal ref TValue GetOrAdd(NetAddress key, out bool added)
    {
        if (_index.TryGetValue(key, out int slot))
        {
            added = false;
            Touch(slot);
            return ref _values[slot];
        }
        if (_index.Count == _capacity)
        {
            Remove(_keys[_oldest]);
        }
        if (_free >= 0)
        {
            slot = _free;
            _free = _newer[slot];
        }
        else
        {
            if (_used == _keys.Length)
            {
                Grow();
            }
            slot = _used++;
        }
        _keys[slot] = key;
        _values[slot] = default;
        _index.Add(key, slot);
        LinkNewest(slot);
        added = true;
        return ref _values[slot];
    }

    internal bool Remove(NetAddress key)
    {
        if (!_index.Remove(key, out int slot))
        {
            return false;
        }
        Unlink(slot);
        _keys[slot] = default;
        _values[slot] = default;
        _newer[slot] = _free;
        _free = slot;
        return true;
    }

    /// <summary>Doubles the slot arrays (up to the capacity); slots keep their numbers, so the index stays valid.</summary>
    private void Grow()
    {
        int slots = (int)Math.Min((long)_keys.Length * 2, _capacity);
        Array.Resize(ref _keys, slots);
        Array.Resize(ref _values, slots);
        Array.Resize(ref _older, slots);
        Array.Resize(ref _newer, slots);
    }

    private void Touch(int slot)
    {
        if (slot != _newest)
        {
            Unlink(slot);
            LinkNewest(slot);
        }
    }

    private void LinkNewest(int slot)
    {
        _older[slot] = _newest;
        _newer[slot] = -1;
        if (_newest >= 0)
        {
            _newer[_newest] = slot;
        }
        else
        {
            _oldest = slot;
        }
        _newest = slot;
    }

    private void Unlink(int slot)
    {
        int older = _older[slot], newer = _newer[slot];
        if (older >= 0)
        {
            _newer[older] = newer;
        }
        else
        {
            _oldest = newer;
        }
        if (newer >= 0)
        {
            _older[newer] = older;
        }
        else
        {
            _newest = older;
        }
    }
}
