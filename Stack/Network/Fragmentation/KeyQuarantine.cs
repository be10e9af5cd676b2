namespace NetStack.Network.Fragmentation;

/// <summary>
/// Keys of datagrams discarded for overlapping fragments, remembered until a deadline so that the rest of
/// their fragments are dropped too (RFC 5722 §4). Bounded: past capacity the oldest key is forgotten.
/// Allocation-free after construction.
/// </summary>
internal sealed class KeyQuarantine
{
    private readonly Dictionary<FragmentKey, long> _until;
    private readonly FragmentKey[] _ringKeys;
    private readonly long[] _ringUntil;
    private int _head;
    private int _count;

    internal KeyQuarantine(int capacity)
    {
        _until = new Dictionary<FragmentKey, long>(capacity);
        _ringKeys = new FragmentKey[capacity];
        _ringUntil = new long[capacity];
    }

    internal int Count => _until.Count;

    internal void Add(in FragmentKey key, long until)
    {
        if (_ringKeys.Length == 0)
        {
            return;
        }
        if (_count == _ringKeys.Length)
        {
            PopOldest();
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
