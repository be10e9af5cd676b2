// Layer: transport (TCP). Congestion control: slow start and congestion avoidance (RFC 5681 §3.1), fast
// retransmit and fast recovery with the NewReno modification (RFC 6582 §3.2), initial window (RFC 6928).
namespace NetStack.Tcp;

/// <summary>What an ACK means to the sender after congestion control saw it.</summary>
internal enum CongestionSignal
{
    None,
    /// <summary>Third duplicate ACK: retransmit the first unacknowledged segment (RFC 5681 §3.2 step 2–4).</summary>
    FastRetransmit,
    /// <summary>Partial ACK during recovery: retransmit the first unacknowledged segment (RFC 6582 §3.2 step 5).</summary>
    PartialAck,
}

/// <summary>NewReno congestion window of one connection, in bytes.</summary>
internal sealed class NewRenoCongestionControl
{
    private int _mss;
    private long _avoidanceBytes;

    public NewRenoCongestionControl(int mss, SequenceNumber iss)
    {
        _mss = mss;
        CongestionWindow = InitialWindow(mss);
        Recover = iss;
    }

    public long CongestionWindow { get; private set; }

    public long SlowStartThreshold { get; private set; } = int.MaxValue;

    public int DuplicateAcks { get; private set; }

    public bool InRecovery { get; private set; }

    /// <summary>Highest sequence number sent when recovery began (RFC 6582 "recover").</summary>
    public SequenceNumber Recover { get; private set; }

    /// <summary>RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)).</summary>
    private static long InitialWindow(int mss) => Math.Min(10L * mss, Math.Max(2L * mss, 14600));

    public void SetMss(int mss)
    {
        _mss = mss;
        CongestionWindow = InitialWindow(mss);
    }

    /// <summary>An ACK that advanced SND.UNA by <paramref name="acked"/> bytes to <paramref name="ack"/>.</summary>
    public CongestionSignal OnNewAck(int acked, SequenceNumber ack, long flightAfter)
    {
        DuplicateAcks = 0;
        if (InRecovery)
        {
            if (ack > Recover)
            {
                // RFC 6582 §3.2 step 3 (full ACK): deflate to min(ssthresh, max(FlightSize, SMSS) + SMSS).
                CongestionWindow = Math.Min(SlowStartThreshold, Math.Max(flightAfter, _mss) + _mss);
                InRecovery = false;
                return CongestionSignal.None;
            }
            // Step 5 (partial ACK): deflate by the amount acknowledged, add back one SMSS if that was ≥ SMSS.
            CongestionWindow = Math.Max(_mss, CongestionWindow - acked + (acked >= _mss ? _mss : 0));
            return CongestionSignal.PartialAck;
        }
        if (CongestionWindow < SlowStartThreshold)
        {
            CongestionWindow += Math.Min(acked, _mss); // RFC 5681 §3.1 (3.2): at most SMSS per ACK
        }
        else
        {
            // Congestion avoidance by byte counting: one SMSS per window of data acknowledged.
            _avoidanceBytes += acked;
            if (_avoidanceBytes >= CongestionWindow)
            {
                _avoidanceBytes -= CongestionWindow;
                CongestionWindow += _mss;
            }
        }
        return CongestionSignal.None;
    }

    /// <summary>A duplicate ACK (RFC 5681 §2 definition) with <paramref name="flight"/> bytes outstanding.</summary>
    public CongestionSignal OnDuplicateAck(SequenceNumber ack, long flight, SequenceNumber highestSent)
    {
        DuplicateAcks++;
        if (InRecovery)
        {
            CongestionWindow += _mss; // RFC 5681 §3.2 step 5: inflate for each further duplicate
            return CongestionSignal.None;
        }
        // RFC 6582 §3.2 step 2: enter recovery only if the ACK covers more than "recover" (avoids false fast retransmits).
        if (DuplicateAcks == 3 && ack > Recover)
        {
            SlowStartThreshold = Math.Max(flight / 2, 2L * _mss);
            Recover = highestSent;
            CongestionWindow = SlowStartThreshold + (3L * _mss);
            InRecovery = true;
            return CongestionSignal.FastRetransmit;
        }
        return CongestionSignal.None;
    }

    /// <summary>The retransmission timer expired (RFC 5681 §3.1 (4), RFC 6582 §4).</summary>
    public void OnRetransmissionTimeout(long flight, SequenceNumber highestSent)
    {
        SlowStartThreshold = Math.Max(flight / 2, 2L * _mss);
        CongestionWindow = _mss; // loss window
        InRecovery = false;
        DuplicateAcks = 0;
        Recover = highestSent;
        _avoidanceBytes = 0;
    }
}
