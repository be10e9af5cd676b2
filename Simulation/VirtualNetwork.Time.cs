// Time on a virtual network: RunAsync drives a scenario (in virtual time on one thread, jumping over idle time),
// WaitUntil and Delay are the harness's waits, and the driver pumps every subnet's wire between steps.
using System.Collections.Concurrent;
using NetStack.Link.Simulation;

namespace NetStack.Simulation;

public sealed partial class VirtualNetwork
{
    private readonly List<Waiter> _waiters = []; // the driver's thread only (virtual time)

    /// <summary>
    /// Runs <paramref name="scenario"/> to its end. In real time it simply awaits it (at most
    /// <paramref name="limit"/> of real time). In virtual time the calling thread becomes the driver: the scenario's
    /// continuations run on it one at a time, the wires are pumped until nothing moves, then the clock jumps to the
    /// next timer or delayed packet, until the scenario completes (at most <paramref name="limit"/> of virtual time,
    /// <see cref="VirtualNetworkOptions.VirtualTimeLimit"/> by default).
    /// </summary>
    /// <exception cref="TimeoutException">The limit passed first.</exception>
    /// <exception cref="InvalidOperationException">In virtual time, the scenario waits for something that can never happen (nothing is scheduled).</exception>
    public Task RunAsync(Func<Task> scenario, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        if (limit is TimeSpan l)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(l, TimeSpan.Zero, nameof(limit));
        }
        if (!IsVirtualTime)
        {
            Task task = scenario();
            return limit is TimeSpan real ? task.WaitAsync(real) : task;
        }
        try
        {
            Drive(scenario, limit ?? Options.VirtualTimeLimit);
            return Task.CompletedTask;
        }
        catch (Exception e)
        {
            return Task.FromException(e);
        }
    }

    /// <summary>Runs a scenario with a result; see <see cref="RunAsync(Func{Task}, TimeSpan?)"/>.</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> scenario, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        T result = default!;
        await RunAsync(async () => { result = await scenario(); }, limit).ConfigureAwait(false);
        return result;
    }

    /// <summary>Waits <paramref name="delay"/> on the network's clock (virtual time jumps over it).</summary>
    public Task Delay(TimeSpan delay, CancellationToken cancellationToken = default) => Task.Delay(delay, Clock, cancellationToken);

    /// <summary>
    /// Completes when <paramref name="condition"/> holds. In virtual time the driver checks it after every step (so
    /// it may read the stacks freely: nothing else runs then); in real time it is polled every millisecond.
    /// </summary>
    public Task WaitUntil(Func<bool> condition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        if (condition())
        {
            return Task.CompletedTask;
        }
        if (!IsVirtualTime)
        {
            return PollAsync(condition, cancellationToken);
        }
        if (_driver != Environment.CurrentManagedThreadId)
        {
            throw new InvalidOperationException("In virtual time, the harness's waits belong inside VirtualNetwork.RunAsync (on its driver).");
        }
        var waiter = new Waiter(condition, cancellationToken);
        _waiters.Add(waiter);
        return waiter.Completion.Task;
    }

    /// <summary>The virtual time elapsed since the network was made (real time: since the Unix epoch, which is not useful).</summary>
    public TimeSpan Now => VirtualClock?.Elapsed ?? TimeSpan.FromTicks(Clock.GetUtcNow().UtcTicks);

    private int _driver = -1;

    private static async Task PollAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Drive(Func<Task> scenario, TimeSpan limit)
    {
        if (Interlocked.CompareExchange(ref _driver, Environment.CurrentManagedThreadId, -1) != -1)
        {
            throw new InvalidOperationException("A virtual network runs one scenario at a time.");
        }
        // The scenario's code runs with the driver's context current, so its awaits come back to the driver. Everything
        // else (pumps, timers, completed waits) runs with no context: there a ConfigureAwait(false) continuation may run
        // inline, on the driver, instead of being sent to the thread pool (the runtime never inlines it under a context).
        SynchronizationContext? previous = SynchronizationContext.Current;
        var context = new DriverContext();
        try
        {
            ManualClock clock = VirtualClock!;
            TimeSpan deadline = clock.Elapsed + limit;
            SynchronizationContext.SetSynchronizationContext(context);
            Task task;
            try
            {
                task = scenario();
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(null);
            }
            while (!task.IsCompleted)
            {
                if (context.RunPending() > 0 || PumpAll() > 0 || CheckWaiters() > 0)
                {
                    continue;
                }
                if (Options.RealTimeGrace > TimeSpan.Zero && context.WaitForWork(Options.RealTimeGrace))
                {
                    continue;
                }
                TimeSpan? next = NextEvent();
                if (next is null)
                {
                    // Nothing scheduled: work on other threads (a thread-pool hop of code outside the harness) may still post back.
                    if (context.WaitForWork(TimeSpan.FromSeconds(5)))
                    {
                        continue;
                    }
                    throw new InvalidOperationException($"The scenario waits for something that can never happen: no packet, timer or wait is pending at virtual time {clock.Elapsed}.\n{Summary()}");
                }
                if (clock.Elapsed + next.Value > deadline)
                {
                    throw new TimeoutException($"The scenario did not finish within {limit} of virtual time.\n{Summary()}");
                }
                clock.Advance(next.Value);
            }
            task.GetAwaiter().GetResult();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            foreach (Waiter waiter in _waiters)
            {
                waiter.Completion.TrySetCanceled();
            }
            _waiters.Clear();
            Volatile.Write(ref _driver, -1);
        }
    }

    private int PumpAll()
    {
        int moved = 0;
        foreach (VirtualSubnet subnet in Volatile.Read(ref _subnetSnapshot))
        {
            moved += subnet.Network.Driver!.PumpOnce();
        }
        return moved;
    }

    private TimeSpan? NextEvent()
    {
        TimeSpan? next = null;
        foreach (VirtualSubnet subnet in Volatile.Read(ref _subnetSnapshot))
        {
            if (subnet.Network.Driver!.NextEvent() is TimeSpan t && (next is null || t < next))
            {
                next = t;
            }
        }
        return next;
    }

    /// <summary>
    /// Completes the waits whose condition holds (or whose token was cancelled), in the order they began. Completion
    /// is synchronous, so even continuations that left the context (<c>ConfigureAwait(false)</c> inside the BCL's
    /// stream helpers) run here on the driver rather than on the thread pool.
    /// </summary>
    private int CheckWaiters()
    {
        if (_waiters.Count == 0)
        {
            return 0;
        }
        var ready = new List<(Waiter Waiter, Exception? Error)>();
        for (int i = 0; i < _waiters.Count; i++)
        {
            Waiter waiter = _waiters[i];
            Exception? error = null;
            bool done;
            try
            {
                done = waiter.Token.IsCancellationRequested || waiter.Condition();
            }
            catch (Exception e)
            {
                error = e;
                done = true;
            }
            if (done)
            {
                ready.Add((waiter, error));
                _waiters.RemoveAt(i--);
            }
        }
        foreach ((Waiter waiter, Exception? error) in ready)
        {
            if (error is not null)
            {
                waiter.Completion.TrySetException(error);
            }
            else if (waiter.Token.IsCancellationRequested)
            {
                waiter.Completion.TrySetCanceled(waiter.Token);
            }
            else
            {
                waiter.Completion.TrySetResult();
            }
        }
        return ready.Count;
    }

    private sealed record Waiter(Func<bool> Condition, CancellationToken Token)
    {
        public TaskCompletionSource Completion { get; } = new();
    }

    /// <summary>The driver's synchronization context: a queue the driver drains between steps, in the order posted.</summary>
    private sealed class DriverContext : SynchronizationContext
    {
        private readonly ConcurrentQueue<(SendOrPostCallback, object?)> _queue = new();
        private readonly SemaphoreSlim _signal = new(0);

        public override void Post(SendOrPostCallback d, object? state)
        {
            _queue.Enqueue((d, state));
            _signal.Release();
        }

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("The virtual-time driver does not run work synchronously for other threads.");

        public override SynchronizationContext CreateCopy() => this;

        public int RunPending()
        {
            if (_queue.IsEmpty)
            {
                return 0;
            }
            int n = 0;
            SetSynchronizationContext(this);
            try
            {
                while (_queue.TryDequeue(out var item))
                {
                    _signal.Wait(0);
                    item.Item1(item.Item2);
                    n++;
                }
            }
            finally
            {
                SetSynchronizationContext(null);
            }
            return n;
        }

        public bool WaitForWork(TimeSpan timeout) => !_queue.IsEmpty || _signal.Wait(timeout);
    }
}
