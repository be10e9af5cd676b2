// Layer: transport (TCP), application API. The one pending read or write of a connection, as a reusable
// IValueTaskSource: waiting for data or for send-buffer space allocates nothing (no TaskCompletionSource, no
// WaitAsync task), which matters when every read of a transport loop waits.
using System.Threading.Tasks.Sources;

namespace NetStack.Tcp;

/// <summary>
/// A single waiter woken by <see cref="Set"/>, cancellable by its token. Arm and Set are called under the
/// connection's lock, so a wake-up is never lost between the waiter's check and its wait. One wait at a time.
/// </summary>
internal sealed class TcpWaiter(Lock gate) : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;
    private bool _armed;

    /// <summary>Starts a wait (the caller holds the lock and found nothing to do yet).</summary>
    public ValueTask Arm(CancellationToken cancellationToken)
    {
        if (_armed)
        {
            throw new InvalidOperationException("Another read or write is already waiting on this connection.");
        }
        cancellationToken.ThrowIfCancellationRequested();
        _core.Reset();
        _armed = true;
        short version = _core.Version;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(static (state, token) => ((TcpWaiter)state!).Cancel(token), this);
        }
        return new ValueTask(this, version);
    }

    /// <summary>Wakes the waiter, if any (the caller holds the lock).</summary>
    public void Set()
    {
        if (!_armed)
        {
            return;
        }
        _armed = false;
        _registration.Unregister(); // never blocks: a callback already running finds the waiter disarmed
        _registration = default;
        _core.SetResult(true);
    }

    private void Cancel(CancellationToken token)
    {
        lock (gate)
        {
            if (!_armed)
            {
                return;
            }
            _armed = false;
            _registration = default;
            _core.SetException(new OperationCanceledException(token));
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
