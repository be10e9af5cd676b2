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

    /// <summary>
    /// Bursty loss (netem <c>loss gemodel</c>): a two-state Gilbert–Elliott chain stepped once per packet, applied
    /// after <see cref="LossPercent"/>. Null: no bursty loss.
    /// </summary>
    public GilbertElliottLoss? BurstLoss { get; init; }

    /// <summary>The distribution of the delay's random part (<see cref="Jitter"/>); uniform by default.</summary>
    public DelayDistribution DelayDistribution { get; init; } = DelayDistribution.Uniform;

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
        LossPercent == 0 && BurstLoss is null && DuplicatePercent == 0 && CorruptPercent == 0 && ReorderPercent == 0
        && Delay == TimeSpan.Zero && Jitter == TimeSpan.Zero && RateBitsPerSecond == 0;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        CheckPercent(LossPercent, nameof(LossPercent));
        BurstLoss?.Validate();
        if (!Enum.IsDefined(DelayDistribution))
        {
            throw new ArgumentOutOfRangeException(nameof(DelayDistribution), DelayDistribution, "Unknown delay distribution.");
        }
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

    internal static void CheckPercent(double value, string name)
    {
        if (!(value >= 0 && value <= 100))
        {
            throw new ArgumentOutOfRangeException(name, value, "A percentage must be between 0 and 100.");
        }
    }
}

/// <summary>
/// The Gilbert–Elliott loss model (netem <c>loss gemodel p r 1-h 1-k</c>): a chain in a good or a bad state,
/// moving good→bad with <see cref="GoodToBadPercent"/> and bad→good with <see cref="BadToGoodPercent"/> at each
/// packet, losing <see cref="LossInGoodPercent"/> of packets in the good state and <see cref="LossInBadPercent"/> in
/// the bad one. The mean burst length is 100 / <see cref="BadToGoodPercent"/> packets.
/// </summary>
public sealed record GilbertElliottLoss
{
    /// <summary>Chance per packet, in percent, that a good chain turns bad (netem <c>p</c>).</summary>
    public double GoodToBadPercent { get; init; }

    /// <summary>Chance per packet, in percent, that a bad chain turns good (netem <c>r</c>).</summary>
    public double BadToGoodPercent { get; init; } = 100;

    /// <summary>Loss in the good state, in percent (netem <c>1-k</c>).</summary>
    public double LossInGoodPercent { get; init; }

    /// <summary>Loss in the bad state, in percent (netem <c>1-h</c>).</summary>
    public double LossInBadPercent { get; init; } = 100;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the field that is out of range.</summary>
    public void Validate()
    {
        ImpairmentOptions.CheckPercent(GoodToBadPercent, nameof(GoodToBadPercent));
        ImpairmentOptions.CheckPercent(BadToGoodPercent, nameof(BadToGoodPercent));
        ImpairmentOptions.CheckPercent(LossInGoodPercent, nameof(LossInGoodPercent));
        ImpairmentOptions.CheckPercent(LossInBadPercent, nameof(LossInBadPercent));
    }
}

/// <summary>The shape of the random part of an impairment's delay, spread by <see cref="ImpairmentOptions.Jitter"/>.</summary>
public enum DelayDistribution
{
    /// <summary>Uniform in [-Jitter, +Jitter].</summary>
    Uniform,
    /// <summary>Normal with standard deviation Jitter (netem <c>distribution normal</c>), cut at ±4 Jitter.</summary>
    Normal,
    /// <summary>
    /// Pareto (heavy tail, shape 3, netem <c>distribution pareto</c>), shifted to mean zero: most packets come a
    /// little early, a few very late (up to +8 Jitter).
    /// </summary>
    Pareto,
}

/// <summary>Why an <see cref="ImpairmentStage"/> dropped a packet.</summary>
public enum ImpairmentDropReason
{
    /// <summary>Random loss (<see cref="ImpairmentOptions.LossPercent"/> or <see cref="ImpairmentOptions.BurstLoss"/>).</summary>
    Loss,
    /// <summary>The stage held <see cref="ImpairmentOptions.QueueLimit"/> packets already (tail drop).</summary>
    QueueFull,
    /// <summary>The stage was cleared or disposed while the packet was still held.</summary>
    Discarded,
}
