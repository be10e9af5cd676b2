// Layer: transport (TCP). Retransmission timer computation (RFC 6298 §2–§5): SRTT/RTTVAR, clamped RTO,
// exponential backoff, the timing of one segment where nothing better measures (our SYN, §3 with Karn's rule);
// and the minimum RTT that RACK (RFC 8985 §6.1) measures reordering against.
namespace NetStack.Tcp;

/// <summary>
/// SRTT, RTTVAR, RTO and min RTT of one connection (RFC 6298, RFC 8985 §6.1). Invariants (checked by
/// RttEstimatorTests): the RTO always lies within [minimum, maximum]; a sample resets any backoff; negative
/// samples are ignored; <see cref="MinRtt"/> is the smallest sample taken (<see cref="TimeSpan.MaxValue"/> before one).
/// </summary>
internal sealed class RttEstimator(TimeSpan initialRto, TimeSpan minRto, TimeSpan maxRto)
{
    private static readonly TimeSpan s_granularity = TimeSpan.FromMilliseconds(1); // G, RFC 6298 §2

    private bool _timing;
    private SequenceNumber _timedSequence;
    private TimeSpan _timedAt;

    public TimeSpan SmoothedRtt { get; private set; }

    public TimeSpan RttVariance { get; private set; }

    public TimeSpan Rto { get; private set; } = Clamp(initialRto, minRto, maxRto);

    public bool HasSample { get; private set; }

    /// <summary>The smallest sample so far (RACK's min_RTT), or <see cref="TimeSpan.MaxValue"/>.</summary>
    public TimeSpan MinRtt { get; private set; } = TimeSpan.MaxValue;

    /// <summary>Takes one measurement (RFC 6298 §2.2, §2.3); resets any backoff.</summary>
    public void Sample(TimeSpan rtt)
    {
        if (rtt < TimeSpan.Zero)
        {
            return;
        }
        if (!HasSample)
        {
            SmoothedRtt = rtt;
            RttVariance = rtt / 2;
            HasSample = true;
        }
        else
        {
            TimeSpan delta = (SmoothedRtt - rtt).Duration();
            RttVariance = (RttVariance * 3 / 4) + (delta / 4); // beta = 1/4
            SmoothedRtt = (SmoothedRtt * 7 / 8) + (rtt / 8);   // alpha = 1/8
        }
        if (rtt < MinRtt)
        {
            MinRtt = rtt;
        }
        TimeSpan variance = RttVariance * 4;
        Rto = Clamp(SmoothedRtt + (variance > s_granularity ? variance : s_granularity), minRto, maxRto);
    }

    /// <summary>Starts timing the segment at <paramref name="seq"/>, sent at <paramref name="now"/> (RFC 6298 §3).</summary>
    public void StartTiming(SequenceNumber seq, TimeSpan now)
    {
        _timing = true;
        _timedSequence = seq;
        _timedAt = now;
    }

    /// <summary>The timed segment was sent again: its ACK would be ambiguous (Karn's rule, RFC 6298 §3).</summary>
    public void CancelTiming() => _timing = false;

    /// <summary>An ACK past the timed segment ends the timing: true with the time it took.</summary>
    public bool TryCompleteTiming(SequenceNumber ack, TimeSpan now, out TimeSpan sample)
    {
        sample = default;
        if (!_timing || ack <= _timedSequence)
        {
            return false;
        }
        _timing = false;
        sample = now - _timedAt;
        return true;
    }

    /// <summary>Doubles the RTO after a timeout (RFC 6298 §5.5), up to the maximum.</summary>
    public void Backoff() => Rto = Rto * 2 > maxRto ? maxRto : Rto * 2;

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;
}
