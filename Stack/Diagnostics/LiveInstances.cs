// Layer: diagnostics. The live instances one process-wide instrument observes: a Meter keeps its callbacks
// forever, so an instrument per stack or per counter set would keep every one of them reachable; instead one
// instrument per name walks this list of weak references.
using System.Diagnostics.Metrics;

namespace NetStack.Diagnostics;

/// <summary>
/// Weakly held instances of <typeparamref name="T"/> for an observable instrument's callback. Thread-safe; dead
/// references are pruned when the list doubles (amortized O(1) per add).
/// </summary>
internal sealed class LiveInstances<T> where T : class
{
    private readonly List<WeakReference<T>> _items = [];

    /// <summary>Adds <paramref name="item"/>; it stays observed until it is collected.</summary>
    public void Add(T item)
    {
        lock (_items)
        {
            if (_items.Count >= 16 && (_items.Count & (_items.Count - 1)) == 0)
            {
                _items.RemoveAll(w => !w.TryGetTarget(out _));
            }
            _items.Add(new WeakReference<T>(item));
        }
    }

    /// <summary>The measurements <paramref name="observe"/> makes of every live instance, for an observable instrument's callback.</summary>
    public List<Measurement<TValue>> Observe<TValue>(Action<T, List<Measurement<TValue>>> observe) where TValue : struct
    {
        var result = new List<Measurement<TValue>>();
        lock (_items)
        {
            foreach (var weak in _items)
            {
                if (weak.TryGetTarget(out T? item))
                {
                    observe(item, result);
                }
            }
        }
        return result;
    }
}
