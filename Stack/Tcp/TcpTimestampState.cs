// Layer: transport (TCP). The timestamp option of one connection (RFC 7323 §3–§5): whether it was negotiated,
// our TSval clock (milliseconds plus a per-connection offset, §5.4), TS.Recent and the rule that updates it
// (§4.3), PAWS (§5.3 R1) with TS.Recent invalidated after 24 days idle (§5.5), and the RTT an echoed TSval
// measures (§4.1).
using NetStack.Diagnostics;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// Timestamp state of one connection. Invariants (checked by TcpTimestampStateTests): nothing is checked or
/// sent unless the option was negotiated; TS.Recent only moves forward (modulo 2^32), and only from a segment at
/// or below Last.ACK.sent; a segment whose TSval is older than TS.Recent fails PAWS, unless TS.Recent was set
/// more than 24 days ago (then it is invalid and the segment's TSval replaces it). Not thread-safe: the
/// connection's lock guards it.
/// </summary>
internal sealed class TcpTimestampState(uint offset)
{
    /// <summary>
    /// RFC 7323 §5.5: after this long without an update, TS.Recent may lie more than 2^31 ticks of a 1 ms clock
    /// behind the peer's TSval and PAWS would reject everything; Linux's TCP_PAWS_24DAYS.
    /// </summary>
    public static readonly TimeSpan RecentLifetime = TimeSpan.FromDays(24);

    private bool _ignoreNextEcho;
    private TimeSpan _recentSetAt;
    private bool _recentInvalid;

    /// <summary>Both sides sent the option in their SYNs.</summary>
    public bool Enabled { get; private set; }

    /// <summary>TS.Recent: the peer's TSval to echo (RFC 7323 §4.3).</summary>
    public uint Recent { get; private set; }

    /// <summary>Our TSval at <paramref name="now"/>: milliseconds plus the connection's offset (RFC 7323 §5.4).</summary>
    public uint Value(TimeSpan now) => unchecked((uint)(long)now.TotalMilliseconds + offset);

    /// <summary>The option for a segment sent at <paramref name="now"/>: our TSval, and TS.Recent as TSecr.</summary>
    public TcpTimestamps Option(TimeSpan now) => new(Value(now), Recent);

    /// <summary>The handshake settled the option at <paramref name="now"/>; the peer's SYN carried <paramref name="peerValue"/>.</summary>
    public void Negotiate(bool enabled, uint peerValue, TimeSpan now)
    {
        Enabled = enabled;
        if (enabled)
        {
            Recent = peerValue;
            _recentSetAt = now;
        }
    }

    /// <summary>How far <paramref name="tsval"/> lies after TS.Recent (negative: older), modulo 2^32.</summary>
    public int AfterRecent(uint tsval) => unchecked((int)(tsval - Recent));

    /// <summary>
    /// RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is an old duplicate — unless
    /// TS.Recent is more than 24 days old at <paramref name="now"/> (§5.5): then it is invalid (counted in
    /// <paramref name="events"/>) and the segment passes; its TSval becomes TS.Recent by the usual rule.
    /// </summary>
    public bool FailsPaws(in TcpRepr seg, TimeSpan now, ReasonCounters<TcpEvent> events)
    {
        if (!Enabled || seg.Timestamps is not TcpTimestamps ts || AfterRecent(ts.Value) >= 0)
        {
            return false;
        }
        if (now - _recentSetAt > RecentLifetime)
        {
            if (!_recentInvalid)
            {
                _recentInvalid = true;
                events.Increment(TcpEvent.TimestampRecentExpired);
            }
            return false;
        }
        return true;
    }

    /// <summary>
    /// RFC 7323 §4.3 (and §5.3 R3): remember the TSval of a segment at or below Last.ACK.sent that is not older,
    /// or any TSval once TS.Recent is invalid (§5.5).
    /// </summary>
    public void UpdateRecent(in TcpRepr seg, SequenceNumber seq, SequenceNumber lastAckSent, TimeSpan now)
    {
        if (Enabled && seg.Timestamps is TcpTimestamps ts && seq <= lastAckSent && (_recentInvalid || AfterRecent(ts.Value) >= 0))
        {
            Recent = ts.Value;
            _recentSetAt = now;
            _recentInvalid = false;
        }
    }

    /// <summary>The next echo measures nothing (a SYN cookie rewrote the low bits of the TSval it echoes).</summary>
    public void IgnoreNextEcho() => _ignoreNextEcho = true;

    /// <summary>
    /// The RTT the echoed TSval of <paramref name="seg"/> measures (RFC 7323 §4.1, unambiguous even for
    /// retransmissions). True when the echo decided: <paramref name="sample"/> is then the sample, or null for
    /// an echo that measures nothing; false when the segment echoes nothing.
    /// </summary>
    public bool TryEchoSample(in TcpRepr seg, TimeSpan now, out TimeSpan? sample)
    {
        sample = null;
        if (_ignoreNextEcho)
        {
            _ignoreNextEcho = false;
            return true;
        }
        if (!Enabled || seg.Timestamps is not TcpTimestamps ts || ts.Echo == 0)
        {
            return false;
        }
        int ms = unchecked((int)(Value(now) - ts.Echo));
        if (ms >= 0)
        {
            sample = TimeSpan.FromMilliseconds(ms);
        }
        return true;
    }
}
