// Layer: transport (TCP). One connection's counters: the counts TcpConnectionStatistics reports. An event TCP
// also counts protocol-wide (TcpProtocol.Events) is counted in both by one call, so the two never disagree.
using NetStack.Diagnostics;

namespace NetStack.Tcp;

/// <summary>
/// The counters of one connection. Not thread-safe: the connection's lock guards them (the protocol-wide
/// <see cref="ReasonCounters{TReason}"/> they forward to are atomic). Counts only grow.
/// </summary>
internal sealed class TcpConnectionCounters(ReasonCounters<TcpEvent> events)
{
    /// <summary>New payload bytes sent.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Payload bytes delivered in order.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Payload bytes sent again.</summary>
    public long BytesRetransmitted { get; private set; }

    /// <summary>Wire segments sent (a GSO super-segment counts for each segment it stands for).</summary>
    public long SegmentsSent { get; private set; }

    /// <summary>Segments received for this connection.</summary>
    public long SegmentsReceived { get; private set; }

    /// <summary>Segments sent again.</summary>
    public long Retransmissions { get; private set; }

    /// <summary>Retransmission timeouts.</summary>
    public long Timeouts { get; private set; }

    /// <summary>Fast recovery episodes (each begins with a fast retransmit).</summary>
    public long Recoveries { get; private set; }

    /// <summary>Tail loss probes sent.</summary>
    public long LossProbes { get; private set; }

    /// <summary>D-SACK blocks received.</summary>
    public long DuplicateSacks { get; private set; }

    /// <summary>A segment (or a super-segment of <paramref name="wireSegments"/>) left for the link.</summary>
    public void SegmentOut(int wireSegments)
    {
        SegmentsSent += wireSegments;
        events.Add(TcpEvent.SegmentsSent, wireSegments);
        if (wireSegments > 1)
        {
            events.Increment(TcpEvent.SuperSegmentsSent);
        }
    }

    /// <summary>A segment arrived for this connection.</summary>
    public void SegmentIn() => SegmentsReceived++;

    /// <summary><paramref name="bytes"/> new payload bytes were sent.</summary>
    public void NewData(int bytes) => BytesSent += bytes;

    /// <summary><paramref name="bytes"/> payload bytes in <paramref name="segments"/> segments were sent again.</summary>
    public void Retransmitted(int bytes, int segments)
    {
        BytesRetransmitted += bytes;
        Retransmissions += segments;
    }

    /// <summary><paramref name="bytes"/> payload bytes became readable in order.</summary>
    public void Delivered(int bytes) => BytesReceived += bytes;

    /// <summary>The retransmission timer expired (RFC 6298 §5.4).</summary>
    public void Timeout()
    {
        Timeouts++;
        events.Increment(TcpEvent.RetransmissionTimeouts);
    }

    /// <summary>Fast retransmit: fast recovery begins (RFC 5681 §3.2, RFC 6675 §5).</summary>
    public void FastRecovery()
    {
        Recoveries++;
        events.Increment(TcpEvent.FastRetransmits);
    }

    /// <summary>A tail loss probe went out (RFC 8985 §7.3).</summary>
    public void LossProbe()
    {
        LossProbes++;
        events.Increment(TcpEvent.LossProbes);
    }

    /// <summary>An ACK carried a D-SACK block (RFC 2883).</summary>
    public void DuplicateSack()
    {
        DuplicateSacks++;
        events.Increment(TcpEvent.DuplicateSacks);
    }
}
