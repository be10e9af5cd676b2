// Layer: diagnostics. What a set of ReasonCounters logs: every drop at trace level with its reason, and each
// reason that means a resource limit was reached at warning level at most once per interval (LimitLog). Attached
// only when the stack has a logger that is not the null one, so without logging a count costs a null check.
using Microsoft.Extensions.Logging;

namespace NetStack.Diagnostics;

/// <summary>
/// The log side of one <see cref="ReasonCounters{TReason}"/>: which reasons it reports and how. Thread-safe.
/// </summary>
internal sealed class ReasonLog
{
    private readonly ILogger _logger;
    private readonly string _stack;
    private readonly string _layer;
    private readonly string[] _names;
    private readonly bool[] _watched;
    private readonly LimitLog?[] _limits;
    private readonly bool _drops;

    /// <summary>Creates the log of one counter set.</summary>
    /// <param name="logger">The layer's logger.</param>
    /// <param name="clock">The stack's clock (the limit warnings' interval).</param>
    /// <param name="stack">The stack's name, in every message.</param>
    /// <param name="layer">The layer, as messages name it ("TCP", "IP", …).</param>
    /// <param name="names">The reasons' names by index (<see cref="ReasonCounters{TReason}.Names"/>).</param>
    /// <param name="drops">True when every count is a drop (logged at trace level).</param>
    /// <param name="limits">Indexes of the reasons that mean a limit was reached.</param>
    public ReasonLog(ILogger logger, TimeProvider clock, string stack, string layer, string[] names, bool drops, ReadOnlySpan<int> limits)
    {
        _logger = logger;
        _stack = stack;
        _layer = layer;
        _names = names;
        _drops = drops;
        _watched = new bool[names.Length];
        _limits = new LimitLog?[names.Length];
        if (drops)
        {
            _watched.AsSpan().Fill(true);
        }
        foreach (int i in limits)
        {
            _watched[i] = true;
            _limits[i] = new LimitLog(logger, clock, $"{layer} {names[i]}", stack);
        }
    }

    /// <summary>True when a count of the reason at <paramref name="index"/> is logged.</summary>
    public bool Watches(int index) => (uint)index < (uint)_watched.Length && _watched[index];

    /// <summary>Logs <paramref name="count"/> counts of the reason at <paramref name="index"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public void Report(int index, long count)
    {
        _limits[index]?.Hit();
        if (_drops)
        {
            _logger.Dropped(_stack, _layer, _names[index], count);
        }
    }
}
