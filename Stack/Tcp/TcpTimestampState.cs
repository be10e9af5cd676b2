// Layer: transport (TCP). The timestamp option of one connection (RFC 7323 §3–§5): whether it was negotiated,
// our TSval clock (milliseconds plus a per-connection offset, §5.4), TS.Recent and the rule that updates it
// (§4.3), PAWS (§5.3 R1), and the RTT an echoed TSval measures (§4.1).
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// Timestamp state of one connection. Invariants (checked by TcpTimestampStateTests): nothing is checked or
/// sent unless the option was negotiated; TS.Recent only moves forward (modulo 2^32), and only from a segment at
/// or below Last.ACK.sent; a segment whose TSval is older than TS.Recent fails PAWS. Not thread-safe: the
/// connection's lock guards it.
/// </summary>
internal sealed class TcpTimestampState(uint offset)
{
    private bool _ignoreNextEcho;

    /// <summary>Both sides sent the option in their SYNs.</summary>
    public bool Enabled { get; private set; }

    /// <summary>TS.Recent: the peer's TSval to echo (RFC 7323 §4.3).</summary>
    public uint Recent { get; private set; }

    /// <summary>Our TSval at <paramref name="now"/>: milliseconds plus the connection's offset (RFC 7323 §5.4).</summary>
    public uint Value(TimeSpan now) => unchecked((uint)(long)now.TotalMilliseconds + offset);

    /// <summary>The option for a segment sent at <paramref name="now"/>: our TSval, and TS.Recent as TSecr.</summary>
    public TcpTimestamps Option(TimeSpan now) => new(Value(now), Recent);

    /// <summary>The handshake settled the option; the peer's SYN carried <paramref name="peerValue"/>.</summary>
    public void Negotiate(bool enabled, uint peerValue)
    {
        Enabled = enabled;
        if (enabled)
        {
            Recent = peerValue;
        }
    }

    /// <summary>How far <paramref name="tsval"/> lies after TS.Recent (negative: older), modulo 2^32.</summary>
    public int AfterRecent(uint tsval) => unchecked((int)(tsval - Recent));

    /// <summary>RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is an old duplicate.</summary>
    public bool FailsPaws(in TcpRepr seg) => Enabled && seg.Timestamps is TcpTimestamps ts && AfterRecent(ts.Value) < 0;

    /// <summary>RFC 7323 §4.3 (and §5.3 R3): remember the TSval of a segment at or below Last.ACK.sent that is not older.</summary>
    public void UpdateRecent(in TcpRepr seg, SequenceNumber seq, SequenceNumber lastAckSent)
    {
        if (Enabled && seg.Timestamps is TcpTimestamps ts && seq <= lastAckSent && AfterRecent(ts.Value) >= 0)
        {
            Recent = ts.Value;
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
