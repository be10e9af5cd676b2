// Layer: simulation. A clock that only moves when told, so a seeded simulation replays bit for bit (ARCHITECTURE.md §5).
namespace NetStack.Simulation;

/// <summary>
/// A <see cref="TimeProvider"/> whose time advances only through <see cref="Advance"/> or
/// <see cref="AdvanceToNextTimer"/>; its timers fire in due order, each with the clock set to its due time.
/// Thread-safe; callbacks run on the advancing thread, outside the clock's lock.
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly PriorityQueue<ManualTimer, (long Due, long Order)> _timers = new();
    private readonly DateTimeOffset _epoch;
    private long _now;
    private long _order;

    /// <summary>Creates a clock reading <paramref name="epoch"/> (default 2026-01-01 UTC) at timestamp 0.</summary>
    public ManualClock(DateTimeOffset? epoch = null) => _epoch = epoch ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <inheritdoc/>
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc/>
    public override long GetTimestamp() => Volatile.Read(ref _now);

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => _epoch.AddTicks(GetTimestamp());

    /// <summary>Time since the clock started.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(GetTimestamp());

    /// <summary>Time until the earliest armed timer, or null when none is armed.</summary>
    public TimeSpan? TimeUntilNextTimer
    {
        get
        {
            lock (_gate)
            {
                DropCancelled();
                return _timers.TryPeek(out _, out var p) ? TimeSpan.FromTicks(Math.Max(0, p.Due - _now)) : null;
            }
        }
    }

    /// <inheritdoc/>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves time forward by <paramref name="delta"/>, firing every timer that falls due on the way.</summary>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        long target = GetTimestamp() + delta.Ticks;
        while (FireNext(target))
        {
        }
        Volatile.Write(ref _now, Math.Max(GetTimestamp(), target));
    }

    /// <summary>Jumps to the earliest armed timer (no further than <paramref name="limit"/> ahead) and fires what is due then. False when no timer is armed within the limit.</summary>
    public bool AdvanceToNextTimer(TimeSpan? limit = null)
    {
        TimeSpan? next = TimeUntilNextTimer;
        if (next is null || (limit is TimeSpan l && next > l))
        {
            return false;
        }
        Advance(next.Value);
        return true;
    }

    private bool FireNext(long limit)
    {
        ManualTimer timer;
        lock (_gate)
        {
            DropCancelled();
            if (!_timers.TryPeek(out timer!, out var p) || p.Due > limit)
            {
                return false;
            }
            _timers.Dequeue();
            if (p.Due > _now)
            {
                Volatile.Write(ref _now, p.Due);
            }
            timer.Armed = false;
            if (timer.Period > 0)
            {
                Schedule(timer, _now + timer.Period);
            }
        }
        timer.Fire();
        return true;
    }

    private void DropCancelled()
    {
        while (_timers.TryPeek(out var t, out var p) && (!t.Armed || t.Due != p.Due))
        {
            _timers.Dequeue();
        }
    }

    private void Schedule(ManualTimer timer, long due)
    {
        timer.Due = due;
        timer.Armed = true;
        _timers.Enqueue(timer, (due, _order++));
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public long Due;
        public long Period;
        public bool Armed;
        private bool _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                if (_disposed)
                {
                    return false;
                }
                Armed = false;
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    clock.Schedule(this, clock._now + Math.Max(0, dueTime.Ticks));
                }
                return true;
            }
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (clock._gate)
            {
                _disposed = true;
                Armed = false;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
