// Layer: simulated links. A seeded impairment decorator (loss, duplication, corruption, rate, delay, reordering)
// over any IPacketSink: the one way a wire, the in-memory network or the TUN layer impairs traffic (ARCHITECTURE.md §5).
using System.Diagnostics.Metrics;
using NetStack.Buffers;
using NetStack.Diagnostics;

namespace NetStack.Link.Simulation;

/// <summary>
/// A seeded impairment decorator over another <see cref="IPacketSink"/> (Linux netem and smoltcp's fault injector
/// are the models). Each packet passes, in this order: random loss; duplication (the copy is a separate buffer
/// that takes the remaining steps on its own); corruption (copy-on-write, then one bit flipped); the rate limiter
/// (serialisation after the previous packet, tail drop when <see cref="ImpairmentOptions.QueueLimit"/> packets are
/// held); delay, jitter and the reordering hold-back. Held packets wait in a bounded heap until due.
/// </summary>
/// <remarks>
/// <para>
/// Time comes only from the <see cref="TimeProvider"/> and chance only from <c>new Random(seed)</c>: with a fake
/// clock, the same seed and the same calls give the same delivered packets, bit for bit and in the same order.
/// The stage keeps no timer. Due packets are released to the inner sink by <see cref="DeliverDue"/> (or
/// <see cref="Flush"/>); its driver (e.g. <see cref="PipeLink"/>) asks <see cref="TimeUntilNextDue"/> when to call again.
/// Both also reach the sinks behind the stage, so a chain of decorators is driven through its outermost one.
/// </para>
/// <para>
/// Like every <see cref="IPacketSink"/>, a stage is driven by one thread at a time. Counters may be read from any
/// thread. No allocation per packet: copies come from the packet's pool and the heap is reused.
/// </para>
/// </remarks>
public sealed class ImpairmentStage : PacketSinkDecorator
{
    /// <summary>
    /// Name of the <see cref="Meter"/> every stage publishes its counters on: one process-wide meter whose instruments
    /// observe every live stage, each measurement tagged <c>stage</c> with the stage's <see cref="Name"/>.
    /// </summary>
    public const string MeterName = "NetStack.Link.Simulation";

    private static readonly Meter s_meter = new(MeterName, "1.0");
    private static readonly LiveInstances<ImpairmentStage> s_live = new(); // weakly held: a dropped stage is collected

    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly DelayQueue _queue;
    private readonly KeyValuePair<string, object?> _stageTag;

    // Durations converted once to TimeProvider timestamp units.
    private readonly long _delay;
    private readonly long _jitter;
    private readonly long _reorderDelay;
    private readonly long _frequency;

    private long _linkBusyUntil = long.MinValue;
    private bool _burstBad;
    private bool _disposed;

    private long _received;
    private long _delivered;
    private long _duplicated;
    private long _corrupted;
    private long _reordered;
    private long _droppedLoss;
    private long _droppedQueueFull;
    private long _discarded;

    /// <summary>Creates a stage in front of <paramref name="inner"/>.</summary>
    /// <param name="inner">Where surviving packets go.</param>
    /// <param name="options">What to do to packets; validated here.</param>
    /// <param name="seed">Seed of the stage's <see cref="Random"/>.</param>
    /// <param name="timeProvider">The clock (the stack's, or a fake one in a simulation); <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="name">Name used as the <c>stage</c> tag of the metrics.</param>
    public ImpairmentStage(IPacketSink inner, ImpairmentOptions options, int seed, TimeProvider? timeProvider = null, string? name = null)
        : base(inner)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Seed = seed;
        Name = name ?? "impairment";
        _random = new Random(seed);
        _time = timeProvider ?? TimeProvider.System;
        _queue = new DelayQueue(options.QueueLimit);
        _frequency = _time.TimestampFrequency;
        _delay = ToTimestampUnits(options.Delay);
        _jitter = ToTimestampUnits(options.Jitter);
        _reorderDelay = ToTimestampUnits(options.ReorderExtraDelay);

        _stageTag = new KeyValuePair<string, object?>("stage", Name);
        s_live.Add(this);
    }

    static ImpairmentStage()
    {
        s_meter.CreateObservableCounter("netstack.link.impairment.dropped", () => s_live.Observe<long>(static (stage, into) =>
        {
            if (!stage._disposed)
            {
                into.Add(new(stage.DroppedLoss, stage._stageTag, new("reason", "loss")));
                into.Add(new(stage.DroppedQueueFull, stage._stageTag, new("reason", "queue_full")));
                into.Add(new(stage.Discarded, stage._stageTag, new("reason", "discarded")));
            }
        }), unit: "{packet}", description: "Packets dropped by the impairment stage, per reason");
        s_meter.CreateObservableCounter("netstack.link.impairment.packets", () => s_live.Observe<long>(static (stage, into) =>
        {
            if (!stage._disposed)
            {
                into.Add(new(stage.Received, stage._stageTag, new("event", "received")));
                into.Add(new(stage.Delivered, stage._stageTag, new("event", "delivered")));
                into.Add(new(stage.Duplicated, stage._stageTag, new("event", "duplicated")));
                into.Add(new(stage.Corrupted, stage._stageTag, new("event", "corrupted")));
                into.Add(new(stage.Reordered, stage._stageTag, new("event", "reordered")));
            }
        }), unit: "{packet}", description: "Packets seen by the impairment stage, per event");
        s_meter.CreateObservableUpDownCounter("netstack.link.impairment.held", () => s_live.Observe<long>(static (stage, into) =>
        {
            if (!stage._disposed)
            {
                into.Add(new(stage.HeldCount, stage._stageTag));
            }
        }), unit: "{packet}", description: "Packets held (delayed or queued) by the impairment stage");
    }

    /// <summary>The options the stage was made with.</summary>
    public ImpairmentOptions Options { get; }

    /// <summary>The seed of the stage's random source.</summary>
    public int Seed { get; }

    /// <summary>Name used in metric tags.</summary>
    public string Name { get; }

    /// <summary>Packets held now (delayed, reordered or waiting for the rate limiter).</summary>
    public int HeldCount => Volatile.Read(ref _heldCount);

    private int _heldCount;

    /// <summary>Packets offered to the stage.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Packets handed to the inner sink (duplicates included).</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>Extra copies made by duplication.</summary>
    public long Duplicated => Volatile.Read(ref _duplicated);

    /// <summary>Packets that had a bit flipped.</summary>
    public long Corrupted => Volatile.Read(ref _corrupted);

    /// <summary>Packets held back for reordering.</summary>
    public long Reordered => Volatile.Read(ref _reordered);

    /// <summary>Packets dropped by random loss.</summary>
    public long DroppedLoss => Volatile.Read(ref _droppedLoss);

    /// <summary>Packets tail-dropped because the stage was full.</summary>
    public long DroppedQueueFull => Volatile.Read(ref _droppedQueueFull);

    /// <summary>Packets released by <see cref="Clear"/> or <see cref="Dispose"/>, or offered after disposal.</summary>
    public long Discarded => Volatile.Read(ref _discarded);

    /// <summary>All drops, whatever the reason.</summary>
    public long Dropped => DroppedLoss + DroppedQueueFull + Discarded;

    /// <summary>Drops for one reason.</summary>
    public long GetDropCount(ImpairmentDropReason reason) => reason switch
    {
        ImpairmentDropReason.Loss => DroppedLoss,
        ImpairmentDropReason.QueueFull => DroppedQueueFull,
        ImpairmentDropReason.Discarded => Discarded,
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };

    /// <summary>
    /// How long until the earliest held packet is due here or behind (<see cref="TimeSpan.Zero"/> if one is due
    /// already), or null when nothing is held.
    /// </summary>
    public override TimeSpan? TimeUntilNextDue => Earliest(OwnTimeUntilNextDue, Inner.TimeUntilNextDue);

    private TimeSpan? OwnTimeUntilNextDue
    {
        get
        {
            if (_queue.Count == 0)
            {
                return null;
            }
            long now = _time.GetTimestamp();
            long due = _queue.EarliestDue;
            return due <= now ? TimeSpan.Zero : _time.GetElapsedTime(now, due);
        }
    }

    /// <summary>
    /// Takes one packet (and its reference) and applies the impairments. A packet due at once goes straight to the
    /// inner sink when nothing is held before it; otherwise it waits for <see cref="DeliverDue"/> or <see cref="Flush"/>.
    /// </summary>
    public override void Enqueue(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        _received++;
        if (_disposed)
        {
            _discarded++;
            packet.Release();
            return;
        }
        if (Roll(Options.LossPercent) || BurstLost())
        {
            _droppedLoss++;
            packet.Release();
            return;
        }
        PacketBuffer? duplicate = null;
        if (Roll(Options.DuplicatePercent))
        {
            duplicate = PacketCopy.Clone(packet);
            _duplicated++;
        }
        Admit(packet);
        if (duplicate is not null)
        {
            Admit(duplicate);
        }
    }

    /// <summary>Releases the packets that are due and ends the inner sink's batch.</summary>
    public override void Flush()
    {
        if (DeliverDue() == 0)
        {
            Inner.Flush();
        }
    }

    /// <summary>
    /// Hands every held packet whose time has come to the inner sink, earliest first, and flushes the inner sink if
    /// any went; then lets the sinks behind deliver theirs. Returns how many went.
    /// </summary>
    public override int DeliverDue() => DeliverOwnDue() + Inner.DeliverDue();

    private int DeliverOwnDue()
    {
        if (_queue.Count == 0)
        {
            return 0;
        }
        long now = _time.GetTimestamp();
        int n = 0;
        while (_queue.Count > 0 && _queue.EarliestDue <= now)
        {
            PacketBuffer p = _queue.Pop();
            Volatile.Write(ref _heldCount, _queue.Count);
            _delivered++;
            n++;
            Inner.Enqueue(p);
        }
        if (n > 0)
        {
            Inner.Flush();
        }
        return n;
    }

    /// <summary>Releases every held packet (counted as <see cref="ImpairmentDropReason.Discarded"/>) and resets the rate limiter.</summary>
    public void Clear()
    {
        _discarded += _queue.ReleaseAll();
        Volatile.Write(ref _heldCount, 0);
        _linkBusyUntil = long.MinValue;
    }

    /// <summary>Releases every held packet and stops publishing metrics; packets offered later are released and counted as discarded.</summary>
    protected override void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (disposing)
        {
            Clear();
        }
    }

    /// <summary>Disposes this stage alone, leaving the sinks behind it in use (a stage swapped out of a chain).</summary>
    internal void DisposeStage() => Dispose(disposing: true);

    private void Admit(PacketBuffer packet)
    {
        if (packet.Length > 0 && Roll(Options.CorruptPercent))
        {
            packet = Corrupt(packet);
        }
        if (_queue.IsFull)
        {
            _droppedQueueFull++;
            packet.Release();
            return;
        }
        long now = _time.GetTimestamp();
        long departure = now;
        if (Options.RateBitsPerSecond > 0)
        {
            // The bottleneck serialises packets one after another (netem rate, tbf with a one-packet bucket).
            departure = Math.Max(now, _linkBusyUntil) + TransmissionTime(packet.Length);
            _linkBusyUntil = departure;
        }
        long due = departure;
        if (_delay != 0 || _jitter != 0)
        {
            long delay = _delay;
            if (_jitter != 0)
            {
                delay += Options.DelayDistribution switch
                {
                    DelayDistribution.Normal => (long)(Math.Clamp(StandardNormal(), -4, 4) * _jitter),
                    // Pareto with shape 3 and scale 2/3 has mean 1: shifted by one, it spreads around zero.
                    DelayDistribution.Pareto => (long)((Math.Min(8, (2.0 / 3) / Math.Cbrt(1 - _random.NextDouble())) - 1) * _jitter),
                    _ => (long)(_random.NextDouble() * ((2 * _jitter) + 1)) - _jitter,
                };
            }
            due += Math.Max(0, delay);
        }
        if (Roll(Options.ReorderPercent))
        {
            _reordered++;
            due += _reorderDelay;
        }
        if (due <= now && _queue.Count == 0)
        {
            _delivered++;
            Inner.Enqueue(packet);
            return;
        }
        _queue.Push(packet, due);
        Volatile.Write(ref _heldCount, _queue.Count);
    }

    /// <summary>Copy-on-write bit flip: the original may be shared (by reference or by chunk), so flip a private copy.</summary>
    private PacketBuffer Corrupt(PacketBuffer packet)
    {
        PacketBuffer copy = PacketCopy.Clone(packet);
        packet.Release();
        int offset = _random.Next(copy.Length);
        int bit = _random.Next(8);
        copy.Head[offset] ^= (byte)(1 << bit);
        copy.RxChecksumValidated = false;
        _corrupted++;
        return copy;
    }

    /// <summary>Steps the Gilbert–Elliott chain once and rolls the loss of its state (netem's gemodel order: transition, then loss).</summary>
    private bool BurstLost()
    {
        if (Options.BurstLoss is not { } model)
        {
            return false;
        }
        _burstBad = _burstBad ? !Roll(model.BadToGoodPercent) : Roll(model.GoodToBadPercent);
        return Roll(_burstBad ? model.LossInBadPercent : model.LossInGoodPercent);
    }

    /// <summary>A standard normal deviate (Box–Muller), from the stage's seeded source.</summary>
    private double StandardNormal()
    {
        double u1 = 1 - _random.NextDouble();
        double u2 = _random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private bool Roll(double percent) => percent > 0 && (percent >= 100 || _random.NextDouble() * 100 < percent);

    private long TransmissionTime(int length)
    {
        // Ceiling of bits / rate in timestamp units; Int128 keeps large frequencies and lengths exact.
        Int128 numerator = (Int128)length * 8 * _frequency;
        return (long)((numerator + Options.RateBitsPerSecond - 1) / Options.RateBitsPerSecond);
    }

    private long ToTimestampUnits(TimeSpan span) => (long)((Int128)span.Ticks * _frequency / TimeSpan.TicksPerSecond);
}
