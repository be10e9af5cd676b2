// Layer: simulated links. A cable between two endpoints' device sides (or a one-way wire, or the ports of an
// InMemoryNetwork): pumps sources into sink chains, deterministically step by step or live in the background.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Diagnostics;

namespace NetStack.Link.Simulation;

/// <summary>
/// A simulated cable between two endpoints: A's outbound source is pumped into B's inbound sink and B's outbound
/// source into A's inbound sink, each direction through an optional <see cref="ImpairmentStage"/>.
/// </summary>
/// <remarks>
/// Two ways to drive it, never both at once: a deterministic driver calls <see cref="PumpOnce"/> between steps of
/// its virtual clock (the same seed and the same steps replay bit for bit); a live setup runs <see cref="RunAsync"/>
/// in the background, which waits on the sources and on the clock for the next delayed packet. Stopping the run
/// releases every packet in flight on the wire (held by the impairment stages); packets still queued in a source
/// belong to that source.
/// </remarks>
public sealed class PipeLink : IDisposable
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    private readonly TimeProvider _time;
    private readonly FaultLog _faults;
    private PipeLinkDirection[] _directions;
    private TaskCompletionSource _changed = NewSignal();
    private readonly bool _runsUntilStopped;
    private int _busy;
    private bool _disposed;

    /// <summary>Connects two endpoints, one source and one sink per side.</summary>
    /// <param name="aOutbound">Packets A sends.</param>
    /// <param name="bInbound">Where B receives them.</param>
    /// <param name="bOutbound">Packets B sends.</param>
    /// <param name="aInbound">Where A receives them.</param>
    /// <param name="options">Impairments, seed, clock and batch sizes.</param>
    public PipeLink(IPacketSource aOutbound, IPacketSink bInbound, IPacketSource bOutbound, IPacketSink aInbound, PipeLinkOptions? options = null)
        : this(aOutbound, bInbound, options, (bOutbound ?? throw new ArgumentNullException(nameof(bOutbound)), aInbound ?? throw new ArgumentNullException(nameof(aInbound))))
    {
    }

    /// <summary>A one-way link: <paramref name="source"/> pumped into <paramref name="sink"/> (the A → B direction; <see cref="BToA"/> is null).</summary>
    public PipeLink(IPacketSource source, IPacketSink sink, PipeLinkOptions? options = null)
        : this(source, sink, options, null)
    {
    }

    private PipeLink(IPacketSource aOutbound, IPacketSink bInbound, PipeLinkOptions? options, (IPacketSource Source, IPacketSink Sink)? back)
        : this(options, runsUntilStopped: false)
    {
        ArgumentNullException.ThrowIfNull(aOutbound);
        ArgumentNullException.ThrowIfNull(bInbound);
        AToB = MakeDirection(aOutbound, bInbound, Options.AToB, Options.Seed, "a-to-b");
        if (back is { } b)
        {
            BToA = MakeDirection(b.Source, b.Sink, Options.BToA, DeriveSeed(Options.Seed), "b-to-a");
            _directions = [AToB, BToA];
        }
        else
        {
            _directions = [AToB];
        }
    }

    /// <summary>A link with no direction yet, whose <see cref="RunAsync"/> runs until stopped: <see cref="InMemoryNetwork"/> adds one direction per port.</summary>
    internal PipeLink(PipeLinkOptions? options, bool runsUntilStopped = true)
    {
        Options = options ?? new PipeLinkOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.BatchSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxBatchesPerPump, 1, nameof(options));
        _time = Options.TimeProvider ?? TimeProvider.System;
        _faults = new FaultLog(Options.LoggerFactory?.CreateLogger("NetStack.Link.Simulation") ?? (ILogger)NullLogger.Instance, _time,
            $"wire {Options.Name}'s pump");
        _directions = [];
        _runsUntilStopped = runsUntilStopped;
        AToB = null!;
    }

    /// <summary>The options the link was made with.</summary>
    public PipeLinkOptions Options { get; }

    /// <summary>The A → B direction.</summary>
    public PipeLinkDirection AToB { get; }

    /// <summary>Every direction, in pump order.</summary>
    internal IReadOnlyList<PipeLinkDirection> Directions => Volatile.Read(ref _directions);

    /// <summary>The B → A direction (null for a one-way link).</summary>
    public PipeLinkDirection? BToA { get; }

    /// <summary>Packets held by the impairment stages (in flight on the wire).</summary>
    public int InFlight
    {
        get
        {
            int n = 0;
            foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
            {
                n += d.Held;
            }
            return n;
        }
    }

    /// <summary>
    /// Moves whatever is ready in both directions: reads the sources (up to <see cref="PipeLinkOptions.MaxBatchesPerPump"/>
    /// batches each), releases the delayed packets that are due, and flushes the sinks. Returns the packets read plus
    /// those released from delay: 0 means nothing moved.
    /// </summary>
    public int PumpOnce()
    {
        Enter();
        try
        {
            return PumpCore();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Pumps in the background until <paramref name="cancellationToken"/> is cancelled, or until every source is
    /// closed and drained and nothing is in flight. Between pumps it waits (with
    /// <see cref="IPacketSource.WaitToReadAsync"/>) for a source, or on the clock for the next delayed packet. The
    /// task completes normally on cancellation, after releasing every packet still held by the impairment stages.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Enter();
        try
        {
            // Return to the caller at once; pumping continues on the thread pool.
            await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            while (!cancellationToken.IsCancellationRequested)
            {
                if (PumpCore() > 0)
                {
                    continue;
                }
                if (!_runsUntilStopped && AllSourcesCompleted() && NextDue() is null)
                {
                    break;
                }
                await WaitForWorkAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping is the normal end of a run.
        }
        finally
        {
            foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
            {
                d.PendingWait = null;
                d.ReleaseInFlight();
            }
            Exit();
        }
    }

    /// <summary>Releases the packets in flight and disposes the impairment stages. Call after the run has stopped.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
        {
            d.Impairment?.Dispose();
        }
    }

    /// <summary>Adds a one-way direction (a port of an <see cref="InMemoryNetwork"/>); a running <see cref="RunAsync"/> starts waiting on its source.</summary>
    internal PipeLinkDirection Add(IPacketSource source, IPacketSink sink, bool splitGso)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sink);
        var direction = new PipeLinkDirection(source, sink, null, Options.BatchSize, Options.MaxBatchesPerPump, splitGso, _faults);
        PipeLinkDirection[] current, next;
        do
        {
            current = Volatile.Read(ref _directions);
            next = [.. current, direction];
        }
        while (Interlocked.CompareExchange(ref _directions, next, current) != current);
        Wake();
        return direction;
    }

    /// <summary>Makes a waiting <see cref="RunAsync"/> look again (a direction was added, something changed).</summary>
    internal void Wake() => Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();

    /// <summary>When the next packet held anywhere on the link falls due, or null when none is held.</summary>
    internal TimeSpan? NextDue()
    {
        TimeSpan? next = null;
        foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
        {
            if (d.TimeUntilNextDue is TimeSpan t && (next is null || t < next))
            {
                next = t;
            }
        }
        return next;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int PumpCore()
    {
        int moved = 0;
        foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
        {
            moved += d.Pump();
        }
        return moved;
    }

    private bool AllSourcesCompleted()
    {
        foreach (PipeLinkDirection d in Volatile.Read(ref _directions))
        {
            if (!d.SourceCompleted)
            {
                return false;
            }
        }
        return true;
    }

    private async Task WaitForWorkAsync(CancellationToken cancellationToken)
    {
        Task changed = Volatile.Read(ref _changed).Task;
        PipeLinkDirection[] directions = Volatile.Read(ref _directions);
        long computedAt = _time.GetTimestamp();
        TimeSpan? nextDue = NextDue();
        if (nextDue == TimeSpan.Zero)
        {
            return;
        }

        // At most one pending wait per source, kept across iterations until it completes.
        var waits = new List<Task>(directions.Length + 2) { changed };
        foreach (PipeLinkDirection d in directions)
        {
            if (!d.SourceCompleted)
            {
                d.PendingWait ??= d.Source.WaitToReadAsync(cancellationToken).AsTask();
                waits.Add(d.PendingWait);
            }
        }
        using var delayCancel = nextDue is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (nextDue is { } delay)
        {
            // Task.Delay takes at most ~49 days; waking early only costs an empty pump.
            waits.Add(Task.Delay(delay < MaxWait ? delay : MaxWait, _time, delayCancel!.Token));
            if (_time.GetTimestamp() != computedAt)
            {
                // The clock moved between computing the delay and arming its timer (a manual clock advanced
                // by another thread): the timer may be late, so recompute instead of waiting on it.
                delayCancel.Cancel();
                return;
            }
        }
        await Task.WhenAny(waits).ConfigureAwait(false);
        delayCancel?.Cancel();
        cancellationToken.ThrowIfCancellationRequested();
        foreach (PipeLinkDirection d in directions)
        {
            if (d.PendingWait is { IsCompleted: true } done)
            {
                d.PendingWait = null;
                if (!await done.ConfigureAwait(false))
                {
                    d.SourceCompleted = true;
                }
            }
        }
    }

    private ImpairmentStage? MakeDirectionStage(IPacketSink sink, ImpairmentOptions? impairment, int seed, string direction) =>
        impairment is null ? null : new ImpairmentStage(sink, impairment, seed, _time, $"{Options.Name}/{direction}");

    private PipeLinkDirection MakeDirection(IPacketSource source, IPacketSink sink, ImpairmentOptions? impairment, int seed, string direction)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sink);
        bool split = Options.Gso == PipeLinkGso.Split || (Options.Gso == PipeLinkGso.Auto && impairment is not null);
        return new PipeLinkDirection(source, sink, MakeDirectionStage(sink, impairment, seed, direction), Options.BatchSize, Options.MaxBatchesPerPump, split, _faults);
    }

    private static int DeriveSeed(int seed) => unchecked((seed * -1640531535) + 0x7F4A7C15);

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException("PipeLink is already being pumped (PumpOnce and RunAsync must not overlap).");
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);
}
