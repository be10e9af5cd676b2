// Layer: transport (TCP), send side. Room on the link (TCP Small Queues in spirit): a sender never piles more into
// a full device queue. When the link's queue is full (ILinkEndpoint.OutboundSpace spent, or a segment refused)
// the sender stops; the next ACK (proof that the queue moved) or a short retry timer resumes it. Both run on the
// stack's clock, so a simulation stays deterministic.
namespace NetStack.Tcp;

/// <summary>
/// Whether a connection may hand the link more segments. Invariants (checked by LinkBackPressureTests): while
/// blocked a retry deadline is set, otherwise none; the retry interval starts at 1 ms and doubles, up to 64 ms,
/// only while refusals repeat without the link having had room in between.
/// </summary>
internal sealed class LinkBackPressure
{
    private static readonly TimeSpan Never = TimeSpan.MaxValue;
    private static readonly TimeSpan MinRetry = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromMilliseconds(64);

    private TimeSpan _retryInterval;

    /// <summary>The link's queue was full: send nothing until it has drained.</summary>
    public bool Blocked { get; private set; }

    /// <summary>When to try the link again, or never.</summary>
    public TimeSpan RetryDeadline { get; private set; } = Never;

    /// <summary>
    /// Stops sending. <paramref name="backOff"/> (the link refused a segment): if already blocked, wait twice as
    /// long as last time; otherwise (the queue was merely full) retry after the shortest interval.
    /// </summary>
    public void Block(bool backOff, TimeSpan now)
    {
        _retryInterval = Blocked && backOff ? TimeSpan.FromTicks(Math.Min(_retryInterval.Ticks * 2, MaxRetry.Ticks)) : MinRetry;
        Blocked = true;
        RetryDeadline = now + _retryInterval;
    }

    /// <summary>The link may have room again (an ACK arrived, or the retry deadline passed): resume sending.</summary>
    public void Resume()
    {
        if (Blocked)
        {
            Blocked = false;
            RetryDeadline = Never;
        }
    }

    /// <summary>Disarms the retry (the connection ended).</summary>
    public void Stop() => RetryDeadline = Never;
}
