// Faults between hosts, changeable at any moment: partitions and repairs, held pairs and their release (turmoil's
// semantics), and rules that drop or reset the packets a predicate picks.
using NetStack.Wire;

namespace NetStack.Simulation;

public sealed partial class VirtualNetwork
{
    private readonly Lock _faultGate = new();
    private Dictionary<(string, string), Verdict> _pairs = []; // copy-on-write: unordered pair → Partitioned or Hold
    private Rule[] _rules = [];
    private volatile bool _hasFaults;
    private int _releaseVersion;

    /// <summary>
    /// Cuts <paramref name="a"/> off from <paramref name="b"/> both ways: packets between them are dropped (counted
    /// under <see cref="FaultDrop.Partition"/>) until <see cref="Repair(string, string)"/>. Other pairs are untouched.
    /// </summary>
    public void Partition(string a, string b) => SetPair(a, b, Verdict.Partitioned);

    /// <summary>Partitions <paramref name="a"/> from every other host.</summary>
    public void Partition(string a)
    {
        foreach (VirtualHost other in Hosts)
        {
            if (!other.Name.Equals(a, StringComparison.OrdinalIgnoreCase))
            {
                Partition(a, other.Name);
            }
        }
    }

    /// <summary>Ends a partition (or a hold, releasing what it held) between <paramref name="a"/> and <paramref name="b"/>.</summary>
    public void Repair(string a, string b) => SetPair(a, b, Verdict.Pass);

    /// <summary>Ends every partition and hold.</summary>
    public void RepairAll()
    {
        lock (_faultGate)
        {
            Volatile.Write(ref _pairs, []);
            Interlocked.Increment(ref _releaseVersion);
            UpdateHasFaults();
        }
        WakeAll();
    }

    /// <summary>
    /// Holds packets between <paramref name="a"/> and <paramref name="b"/> (both ways) instead of delivering them:
    /// nothing is lost, everything arrives in order after <see cref="Release(string, string)"/> (turmoil's hold).
    /// </summary>
    public void Hold(string a, string b) => SetPair(a, b, Verdict.Hold);

    /// <summary>Delivers what <see cref="Hold(string, string)"/> kept, in order, and lets later packets through.</summary>
    public void Release(string a, string b) => SetPair(a, b, Verdict.Pass);

    /// <summary>
    /// Applies <paramref name="action"/> to every packet <paramref name="match"/> picks, on the sender's side, until
    /// the returned handle is disposed. The predicate runs on the network's pump for every packet (keep it cheap); it
    /// may keep state, e.g. <c>p =&gt; p.IsSyn &amp;&amp; p.To == "db" &amp;&amp; ++syns == 3</c> drops the third SYN to db.
    /// </summary>
    public IDisposable AddRule(Func<VirtualPacket, bool> match, FaultAction action = FaultAction.Drop)
    {
        ArgumentNullException.ThrowIfNull(match);
        if (!Enum.IsDefined(action))
        {
            throw new ArgumentOutOfRangeException(nameof(action), action, "Unknown fault action.");
        }
        var rule = new Rule(this, match, action);
        lock (_faultGate)
        {
            Volatile.Write(ref _rules, [.. _rules, rule]);
            UpdateHasFaults();
        }
        return rule;
    }

    internal bool HasFaults => _hasFaults;

    internal int ReleaseVersion => Volatile.Read(ref _releaseVersion);

    internal bool IsHeld(string a, string b) => Volatile.Read(ref _pairs).TryGetValue(Key(a, b), out Verdict v) && v == Verdict.Hold;

    /// <summary>What the faults do to <paramref name="packet"/>: rules first (in the order added), then the pair's state.</summary>
    internal Verdict Judge(in VirtualPacket packet)
    {
        foreach (Rule rule in Volatile.Read(ref _rules))
        {
            if (rule.Match(packet))
            {
                return rule.Action == FaultAction.Reset && packet.IsTcp && (packet.Flags & TcpFlags.Rst) == 0 ? Verdict.Reset : Verdict.Drop;
            }
        }
        return packet.To is { } to && Volatile.Read(ref _pairs).TryGetValue(Key(packet.From, to), out Verdict verdict) ? verdict : Verdict.Pass;
    }

    private void SetPair(string a, string b, Verdict state)
    {
        _ = this[a];
        _ = this[b];
        if (a.Equals(b, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"A host cannot be partitioned from or held against itself ('{a}').", nameof(b));
        }
        lock (_faultGate)
        {
            var pairs = new Dictionary<(string, string), Verdict>(_pairs);
            (string, string) key = Key(a, b);
            bool wasHeld = pairs.TryGetValue(key, out Verdict old) && old == Verdict.Hold;
            if (state == Verdict.Pass)
            {
                pairs.Remove(key);
            }
            else
            {
                pairs[key] = state;
            }
            Volatile.Write(ref _pairs, pairs);
            if (wasHeld && state != Verdict.Hold)
            {
                Interlocked.Increment(ref _releaseVersion);
            }
            UpdateHasFaults();
        }
        WakeAll();
    }

    // Held packets are released by the gates' DeliverDue whatever this says: it only spares unfaulted packets the parse.
    private void UpdateHasFaults() => _hasFaults = _pairs.Count > 0 || _rules.Length > 0;

    private void RemoveRule(Rule rule)
    {
        lock (_faultGate)
        {
            Volatile.Write(ref _rules, Array.FindAll(_rules, r => r != rule));
            UpdateHasFaults();
        }
    }

    /// <summary>Live pumps look again at the gates (a release has packets to hand on).</summary>
    private void WakeAll()
    {
        foreach (VirtualSubnet subnet in Subnets)
        {
            subnet.Network.Wake();
        }
    }

    private static (string, string) Key(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        return string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);
    }

    private sealed class Rule(VirtualNetwork owner, Func<VirtualPacket, bool> match, FaultAction action) : IDisposable
    {
        public FaultAction Action => action;

        public bool Match(in VirtualPacket packet) => match(packet);

        public void Dispose() => owner.RemoveRule(this);
    }
}
