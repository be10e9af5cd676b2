// Layer: transport (TCP). Option negotiation on SYN segments: MSS (RFC 9293 §3.7.1, clamped to the route's
// MTU), window scale (RFC 7323 §2), timestamps (RFC 7323 §3–§5), SACK-permitted (RFC 2018 §2) — and so which
// loss recovery the connection runs.
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private int _ourMss;
    private bool _windowScaling;
    private bool _sack;

    /// <summary>Fills the options of a SYN or SYN-ACK: all we offer, or (passive) only what the peer offered.</summary>
    private void AddSynOptions(ref TcpRepr repr, bool synAck)
    {
        repr.MaxSegmentSize = (ushort)Math.Min(_ourMss, ushort.MaxValue);
        if (synAck ? _windowScaling : Options.WindowScaling)
        {
            repr.WindowScale = _receiver.WindowScale;
        }
        if (synAck ? _sack : Options.Sack)
        {
            repr.SackPermitted = true;
        }
        if (synAck ? _timestamps.Enabled : Options.Timestamps)
        {
            repr.Timestamps = new TcpTimestamps(_timestamps.Value(Protocol.Now), synAck ? _timestamps.Recent : 0);
        }
    }

    /// <summary>Takes the peer's SYN options (RFC 7323 §2.2: scaling only when both sides sent the option).</summary>
    private void ApplyPeerSynOptions(in TcpRepr syn)
    {
        int peerMss = syn.MaxSegmentSize is ushort mss and > 0 ? mss : DefaultPeerMss;
        _windowScaling = Options.WindowScaling && syn.WindowScale.HasValue;
        _sender.WindowScale = _windowScaling ? syn.EffectiveWindowScale!.Value : (byte)0;
        _receiver.WindowScale = _windowScaling ? TcpReceiver.OfferedScale(Options) : (byte)0;
        _timestamps.Negotiate(Options.Timestamps && syn.Timestamps.HasValue, syn.Timestamps?.Value ?? 0, Protocol.Now);
        _sack = Options.Sack && syn.SackPermitted;
        if (_recovery.UsesSack != _sack)
        {
            _recovery = CreateLossRecovery(_sack); // chosen once per connection, before any data
        }
        // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) − TCP header (options included) − IP header.
        _sender.SetMss(Math.Min(peerMss, _ourMss) - (_timestamps.Enabled ? 12 : 0));
        _cc.Initialize(_sender.Mss);
    }
}
