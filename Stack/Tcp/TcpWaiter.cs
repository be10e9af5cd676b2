// Layer: transport (TCP), application API. The one pending read or write of a connection, as a reusable
// IValueTaskSource: waiting for data or for send-buffer space allocates nothing (no TaskCompletionSource, no
// WaitAsync task), which matters when every read of a transport loop waits. A synchronous Read or Write blocks on it
// directly: the thread that signals wakes it, no thread-pool work item in between.
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
    private ManualResetEventSlim? _blocked; // the blocking wait's event, made at its first use
    private bool _blocking;

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

    /// <summary>
    /// Starts a wait that the calling thread will block on (<see cref="Block"/>, after leaving the lock): the caller
    /// holds the lock and found nothing to do yet. Synchronous Stream.Read and Write use it, so that a thread blocked
    /// on a connection needs no other thread, least of all a thread-pool thread, to wake it.
    /// </summary>
    public void ArmBlocking()
    {
        if (_armed)
        {
            throw new InvalidOperationException("Another read or write is already waiting on this connection.");
        }
        _blocked ??= new ManualResetEventSlim(false, spinCount: 0);
        _blocked.Reset();
        _armed = true;
        _blocking = true;
    }

    /// <summary>Blocks until <see cref="Set"/> ends the wait begun by <see cref="ArmBlocking"/> (called without the lock).</summary>
    public void Block() => _blocked!.Wait();

    /// <summary>Wakes the waiter, if any (the caller holds the lock).</summary>
    public void Set()
    {
        if (!_armed)
        {
            return;
        }
        _armed = false;
        if (_blocking)
        {
            _blocking = false;
            _blocked!.Set(); // wakes the blocked thread directly
            return;
        }
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
