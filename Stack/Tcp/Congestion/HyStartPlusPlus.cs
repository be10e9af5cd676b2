// Layer: transport (TCP), congestion control. HyStart++ (RFC 9406 §4): leaves slow start before it overshoots,
// when a round's minimum RTT rises past the previous round's by a threshold; then Conservative Slow Start
// (CSS) for a few rounds, or back to slow start if the RTT rise was spurious.
namespace NetStack.Tcp.Congestion;

/// <summary>What HyStart++ decided about one ACK in slow start.</summary>
internal enum HyStartDecision
{
    /// <summary>Keep growing at the slow-start rate.</summary>
    SlowStart,
    /// <summary>Conservative slow start: grow at a quarter of the rate (RFC 9406 CSS_GROWTH_DIVISOR).</summary>
    Conservative,
    /// <summary>CSS lasted CSS_ROUNDS rounds: end slow start (ssthresh = cwnd).</summary>
    ExitSlowStart,
}

/// <summary>The HyStart++ state of one connection (RFC 9406 §4.2).</summary>
internal sealed class HyStartPlusPlus
{
    private static readonly TimeSpan MinRttThresh = TimeSpan.FromMilliseconds(4);
    private static readonly TimeSpan MaxRttThresh = TimeSpan.FromMilliseconds(16);
    private const int MinRttDivisor = 8;
    private const int NRttSample = 8;
    private const int CssRounds = 5;
    public const int CssGrowthDivisor = 4;
    private static readonly TimeSpan Infinity = TimeSpan.MaxValue;

    private SequenceNumber _windowEnd;
    private bool _roundStarted;
    private TimeSpan _lastRoundMinRtt = Infinity;
    private TimeSpan _currentRoundMinRtt = Infinity;
    private int _rttSampleCount;
    private bool _inCss;
    private TimeSpan _cssBaselineMinRtt = Infinity;
    private int _cssRoundsDone;

    /// <summary>HyStart++ runs only in the first slow start (RFC 9406 §4.3: after an RTO, plain slow start to ssthresh).</summary>
    public bool Enabled { get; set; } = true;

    public bool InConservativeSlowStart => _inCss;

    /// <summary>Feeds one ACK received in slow start; returns how the window should grow.</summary>
    public HyStartDecision OnAck(in RoundInfo round, TimeSpan? rtt)
    {
        if (!Enabled)
        {
            return HyStartDecision.SlowStart;
        }
        if (!_roundStarted || round.Ack >= _windowEnd)
        {
            // A new round (RFC 9406 §4.2: "at the start of each round").
            _roundStarted = true;
            _windowEnd = round.SndNxt;
            _lastRoundMinRtt = _currentRoundMinRtt;
            _currentRoundMinRtt = Infinity;
            _rttSampleCount = 0;
            if (_inCss && ++_cssRoundsDone >= CssRounds)
            {
                Enabled = false;
                _inCss = false;
                return HyStartDecision.ExitSlowStart;
            }
        }
        if (rtt is TimeSpan sample)
        {
            if (sample < _currentRoundMinRtt)
            {
                _currentRoundMinRtt = sample;
            }
            _rttSampleCount++;
        }
        if (_rttSampleCount >= NRttSample && _currentRoundMinRtt != Infinity)
        {
            if (!_inCss && _lastRoundMinRtt != Infinity)
            {
                TimeSpan threshold = _lastRoundMinRtt / MinRttDivisor;
                threshold = threshold < MinRttThresh ? MinRttThresh : threshold > MaxRttThresh ? MaxRttThresh : threshold;
                if (_currentRoundMinRtt >= _lastRoundMinRtt + threshold)
                {
                    _inCss = true; // the delay rose: the path's queue is filling
                    _cssBaselineMinRtt = _currentRoundMinRtt;
                    _cssRoundsDone = 0;
                }
            }
            else if (_inCss && _currentRoundMinRtt < _cssBaselineMinRtt)
            {
                _inCss = false; // the rise was spurious: back to slow start
                _cssBaselineMinRtt = Infinity;
            }
        }
        return _inCss ? HyStartDecision.Conservative : HyStartDecision.SlowStart;
    }

    /// <summary>A congestion event ends slow start and HyStart++ with it.</summary>
    public void OnCongestion()
    {
        Enabled = false;
        _inCss = false;
    }
}
