// Layer: simulated links. Impairments modelled on Linux netem/tbf and smoltcp's fault injector: a seeded
// decorator over an IPacketSink that loses, duplicates, corrupts, delays, reorders and rate-limits packets,
// counting every drop per reason and taking its clock from a TimeProvider (ARCHITECTURE.md §5, §7).
namespace NetStack.Link.Simulation;

/// <summary>
/// What an <see cref="ImpairmentStage"/> does to the packets passing through it. Percentages are per packet
/// (0 to 100); all defaults leave traffic untouched. Validated by <see cref="Validate"/> when a stage is made.
/// </summary>
public sealed record ImpairmentOptions
{
    /// <summary>Most packets an impairment stage may hold at once (delayed or waiting for the rate limiter).</summary>
    public const int MaxQueueLimit = 1 << 20;

    /// <summary>Percentage of packets dropped at random (netem <c>loss random</c>).</summary>
    public double LossPercent { get; init; }

    /// <summary>Percentage of packets sent twice (netem <c>duplicate</c>); the copy is a separate buffer and passes the later stages on its own.</summary>
    public double DuplicatePercent { get; init; }

    /// <summary>
    /// Percentage of packets with one bit flipped at a random offset (netem <c>corrupt</c>). The stage copies the
    /// packet into a new buffer before flipping (copy-on-write), so no other holder of the original sees the change,
    /// and clears <see cref="Buffers.PacketBuffer.RxChecksumValidated"/>: the checksums downstream must catch it.
    /// </summary>
    public double CorruptPercent { get; init; }

    /// <summary>
    /// Percentage of packets held back by <see cref="ReorderExtraDelay"/> on top of their normal delay, so that
    /// packets sent after them overtake them.
    /// </summary>
    public double ReorderPercent { get; init; }

    /// <summary>How long a packet picked for reordering is held back; must be positive when <see cref="ReorderPercent"/> is.</summary>
    public TimeSpan ReorderExtraDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Fixed one-way delay added to every packet (netem <c>delay</c>).</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>
    /// Random variation of the delay, uniform in [-Jitter, +Jitter] (the total never goes below zero). As with
    /// netem, jitter larger than the packet spacing reorders packets.
    /// </summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>
    /// Bottleneck rate in bits per second (0: unlimited). A packet occupies the link for
    /// <c>length·8 / rate</c> seconds after the previous one leaves, like netem <c>rate</c> or a tbf with a one-packet burst.
    /// </summary>
    public long RateBitsPerSecond { get; init; }

    /// <summary>
    /// Most packets held at once (netem <c>limit</c>, default 1000). A packet arriving at a full stage is dropped
    /// (tail drop) and counted under <see cref="ImpairmentDropReason.QueueFull"/>.
    /// </summary>
    public int QueueLimit { get; init; } = 1000;

    /// <summary>True when the options leave every packet untouched and undelayed.</summary>
    public bool IsTransparent =>
        LossPercent == 0 && DuplicatePercent == 0 && CorruptPercent == 0 && ReorderPercent == 0
        && Delay == TimeSpan.Zero && Jitter == TimeSpan.Zero && RateBitsPerSecond == 0;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        CheckPercent(LossPercent, nameof(LossPercent));
        CheckPercent(DuplicatePercent, nameof(DuplicatePercent));
        CheckPercent(CorruptPercent, nameof(CorruptPercent));
        CheckPercent(ReorderPercent, nameof(ReorderPercent));
        if (ReorderPercent > 0 && ReorderExtraDelay <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ReorderExtraDelay), ReorderExtraDelay, "Reordering needs a positive extra delay.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(ReorderExtraDelay, TimeSpan.Zero, nameof(ReorderExtraDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(Delay, TimeSpan.Zero, nameof(Delay));
        ArgumentOutOfRangeException.ThrowIfLessThan(Jitter, TimeSpan.Zero, nameof(Jitter));
        ArgumentOutOfRangeException.ThrowIfNegative(RateBitsPerSecond, nameof(RateBitsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(QueueLimit, 1, nameof(QueueLimit));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(QueueLimit, MaxQueueLimit, nameof(QueueLimit));
    }

    private static void CheckPercent(double value, string name)
    {
        if (!(value >= 0 && value <= 100))
        {
            throw new ArgumentOutOfRangeException(name, value, "A percentage must be between 0 and 100.");
        }
    }
}

/// <summary>Why an <see cref="ImpairmentStage"/> dropped a packet.</summary>
public enum ImpairmentDropReason
{
    /// <summary>Random loss (<see cref="ImpairmentOptions.LossPercent"/>).</summary>
    Loss,
    /// <summary>The stage held <see cref="ImpairmentOptions.QueueLimit"/> packets already (tail drop).</summary>
    QueueFull,
    /// <summary>The stage was cleared or disposed while the packet was still held.</summary>
    Discarded,
}
