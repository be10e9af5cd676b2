// Layer: network (fragment reassembly). The RFC 5722 quarantine: keys of datagrams dropped for overlapping
// fragments, remembered until a deadline in a bounded ring that grows on demand.
namespace NetStack.Network.Fragmentation;

/// <summary>
/// Keys of datagrams discarded for overlapping fragments, remembered until a deadline so that the rest of
/// their fragments are dropped too (RFC 5722 §4). Bounded: past capacity the oldest key is forgotten. The ring
/// starts small and doubles up to the capacity as keys arrive (a stack that never sees an overlap holds almost
/// nothing); once at full size it allocates no more.
/// </summary>
internal sealed class KeyQuarantine
{
    private const int InitialSlots = 8;

    private readonly Dictionary<FragmentKey, long> _until = [];
    private readonly int _capacity;
    private FragmentKey[] _ringKeys;
    private long[] _ringUntil;
    private int _head;
    private int _count;

    internal KeyQuarantine(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
        _ringKeys = new FragmentKey[Math.Min(capacity, InitialSlots)];
        _ringUntil = new long[_ringKeys.Length];
    }

    internal int Count => _until.Count;

    internal void Add(in FragmentKey key, long until)
    {
        if (_capacity == 0)
        {
            return;
        }
        if (_count == _ringKeys.Length)
        {
            if (_ringKeys.Length < _capacity)
            {
                Grow();
            }
            else
            {
                PopOldest();
            }
        }
        _until[key] = until;
        int tail = (_head + _count) % _ringKeys.Length;
        _ringKeys[tail] = key;
        _ringUntil[tail] = until;
        _count++;
    }

    internal bool Contains(in FragmentKey key, long now)
    {
        if (!_until.TryGetValue(key, out long until))
        {
            return false;
        }
        if (until > now)
        {
            return true;
        }
        _until.Remove(key);
        return false;
    }

    /// <summary>Forgets the keys at the front of the ring whose time has passed.</summary>
    internal void Prune(long now)
    {
        while (_count > 0 && _ringUntil[_head] <= now)
        {
            PopOldest();
        }
    }

    internal void Clear()
    {
        _until.Clear();
        Array.Clear(_ringKeys);
        _head = _count = 0;
    }

    /// <summary>Doubles the ring (up to the capacity), unwrapping it so the oldest key sits at slot 0.</summary>
    private void Grow()
    {
        int slots = (int)Math.Min((long)_ringKeys.Length * 2, _capacity);
        var keys = new FragmentKey[slots];
        var until = new long[slots];
        for (int i = 0; i < _count; i++)
        {
            int from = (_head + i) % _ringKeys.Length;
            keys[i] = _ringKeys[from];
            until[i] = _ringUntil[from];
        }
        _ringKeys = keys;
        _ringUntil = until;
        _head = 0;
    }

    private void PopOldest()
    {
        FragmentKey key = _ringKeys[_head];
        // A key quarantined twice has two ring slots; only the slot holding the current deadline removes it.
        if (_until.TryGetValue(key, out long until) && until == _ringUntil[_head])
        {
            _until.Remove(key);
        }
        _ringKeys[_head] = default;
        _head = (_head + 1) % _ringKeys.Length;
        _count--;
    }
}
