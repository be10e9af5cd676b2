// Layer: diagnostics. Drops and events are counted per reason (lwIP's habit), never silent; every counter
// is readable in-process, exported through System.Diagnostics.Metrics and, when a logger listens, logged
// (ReasonLog: drops at trace level, limits reached at warning level once per interval).
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace NetStack.Diagnostics;

/// <summary>
/// A fixed set of counters indexed by an enum (one per drop reason, flush reason, …), incremented without
/// allocation or locks and exported as one observable counter tagged with <c>reason</c>.
/// </summary>
/// <typeparam name="TReason">An enum whose values are small non-negative integers.</typeparam>
public sealed class ReasonCounters<TReason> where TReason : struct, Enum
{
    private static readonly TReason[] s_values = Enum.GetValues<TReason>();
    private static readonly string[] s_names = s_values.Select(v => v.ToString()).ToArray();
    private readonly long[] _counts;

    /// <summary>
    /// Creates the counters and, when <paramref name="meter"/> is given, exports them as <paramref name="instrumentName"/>
    /// (in <paramref name="unit"/>, an OpenTelemetry unit such as <c>{packet}</c>), each measurement tagged with
    /// <paramref name="tags"/> and its reason.
    /// </summary>
    public ReasonCounters(Meter? meter = null, string? instrumentName = null, string? description = null, KeyValuePair<string, object?>[]? tags = null, string? unit = null)
    {
        int max = 0;
        foreach (var v in s_values)
        {
            max = Math.Max(max, ToIndex(v));
        }
        _counts = new long[max + 1];
        _tags = tags ?? [];
        if (meter is not null && instrumentName is not null)
        {
            Registry.Add(meter, instrumentName, unit, description, this);
        }
    }

    private KeyValuePair<string, object?>[] _tags;

    private ReasonLog? _log;

    /// <summary>
    /// Exports counters made without a meter as <paramref name="instrumentName"/> (in <paramref name="unit"/>), each
    /// measurement tagged with <paramref name="tags"/> and its reason: for counters whose owner learns its stack
    /// after it is made (a hook installed later). Once, before the counters are shared.
    /// </summary>
    internal void Export(Meter meter, string instrumentName, string unit, string description, KeyValuePair<string, object?>[] tags)
    {
        _tags = tags;
        Registry.Add(meter, instrumentName, unit, description, this);
    }

    /// <summary>Adds one to <paramref name="reason"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Increment(TReason reason)
    {
        int i = ToIndex(reason);
        Interlocked.Increment(ref _counts[i]);
        if (_log is { } log && log.Watches(i))
        {
            log.Report(i, 1); // a drop or a limit, with a logger that is not the null one: never the common case
        }
    }

    /// <summary>Adds <paramref name="count"/> to <paramref name="reason"/>.</summary>
    public void Add(TReason reason, long count)
    {
        int i = ToIndex(reason);
        Interlocked.Add(ref _counts[i], count);
        if (_log is { } log && log.Watches(i))
        {
            log.Report(i, count);
        }
    }

    /// <summary>
    /// Logs through <paramref name="log"/>: each count of a drop at trace level, each limit reason reached at warning
    /// level once per interval (docs/ARCHITECTURE.md §6). Set once, before the counters are shared.
    /// </summary>
    internal void LogTo(ReasonLog log) => _log = log;

    /// <summary>The reasons' names, indexed as the counters are (for <see cref="ReasonLog"/>).</summary>
    internal static string[] Names
    {
        get
        {
            var names = new string[s_values.Max(v => ToIndex(v)) + 1];
            for (int i = 0; i < s_values.Length; i++)
            {
                names[ToIndex(s_values[i])] = s_names[i];
            }
            return names;
        }
    }

    /// <summary>The index <paramref name="reason"/> counts at.</summary>
    internal static int IndexOf(TReason reason) => ToIndex(reason);

    /// <summary>The count for <paramref name="reason"/>.</summary>
    public long this[TReason reason] => Volatile.Read(ref _counts[ToIndex(reason)]);

    /// <summary>Sum over all reasons.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _counts.Length; i++)
            {
                total += Volatile.Read(ref _counts[i]);
            }
            return total;
        }
    }

    /// <summary>Non-zero counts as "Reason=count" pairs, for logs and command-line summaries.</summary>
    public IEnumerable<KeyValuePair<string, long>> NonZero()
    {
        for (int i = 0; i < s_values.Length; i++)
        {
            long n = this[s_values[i]];
            if (n != 0)
            {
                yield return new(s_names[i], n);
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(", ", NonZero().Select(kv => $"{kv.Key}={kv.Value}"));

    private void Observe(List<Measurement<long>> into)
    {
        for (int i = 0; i < s_values.Length; i++)
        {
            var tags = new KeyValuePair<string, object?>[_tags.Length + 1];
            _tags.CopyTo(tags, 0);
            tags[^1] = new("reason", s_names[i]);
            into.Add(new Measurement<long>(this[s_values[i]], tags));
        }
    }

    /// <summary>One instrument per (meter, name), observing every live counter set of that name (see <see cref="LiveInstances{T}"/>).</summary>
    private static class Registry
    {
        private static readonly Dictionary<(Meter, string), LiveInstances<ReasonCounters<TReason>>> s_sets = [];

        public static void Add(Meter meter, string name, string? unit, string? description, ReasonCounters<TReason> counters)
        {
            LiveInstances<ReasonCounters<TReason>>? live;
            lock (s_sets)
            {
                if (!s_sets.TryGetValue((meter, name), out live))
                {
                    live = new LiveInstances<ReasonCounters<TReason>>();
                    s_sets[(meter, name)] = live;
                    LiveInstances<ReasonCounters<TReason>> captured = live;
                    meter.CreateObservableCounter(name, () => captured.Observe<long>(static (c, into) => c.Observe(into)), unit, description);
                }
            }
            live.Add(counters);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ToIndex(TReason reason) => Unsafe.SizeOf<TReason>() switch
    {
        // The size test folds away at JIT time: no boxing, no branch.
        1 => Unsafe.As<TReason, byte>(ref reason),
        2 => Unsafe.As<TReason, ushort>(ref reason),
        _ => Unsafe.As<TReason, int>(ref reason),
    };
}
