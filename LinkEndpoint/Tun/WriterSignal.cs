// Layer: link endpoints, Linux TUN. How the writer loop learns of outbound packets without waiting on the
// channel's queue (whose waiter wake-up every enqueue would pay, the reader's own ACKs included).
using System.Threading.Tasks.Sources;

namespace NetStack.Link.Tun;

/// <summary>
/// An async auto-reset event for one waiter, allocation-free: <see cref="Set"/> from any thread wakes the pending
/// <see cref="WaitAsync"/> (its continuation runs on the thread pool, never inline in the caller) or, when nobody
/// waits, makes the next wait return at once. Many sets before a wait count as one.
/// </summary>
internal sealed class WriterSignal : IValueTaskSource
{
    private const int Idle = 0;
    private const int Signaled = 1;
    private const int Waiting = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;

    /// <summary>Wakes the waiter, or leaves the signal set for the next wait.</summary>
    public void Set()
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == Signaled)
            {
                return;
            }
            if (state == Idle)
            {
                if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle)
                {
                    return;
                }
                continue;
            }
            if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                _core.SetResult(true);
                return;
            }
        }
    }

    /// <summary>Completes when the signal is set (at once if it already is), and resets it. One waiter at a time.</summary>
    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Signaled) == Signaled)
        {
            return ValueTask.CompletedTask;
        }
        _core.Reset(); // before the waiter is published: Set may complete it the moment it is
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Idle)
        {
            return new ValueTask(this, _core.Version);
        }
        // Set between the two steps: the state is Signaled; consume it.
        Volatile.Write(ref _state, Idle);
        return ValueTask.CompletedTask;
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
