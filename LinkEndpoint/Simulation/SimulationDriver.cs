// Layer: simulated links. The deterministic driver: pump every wire until nothing moves, then jump the manual
// clock to the next timer or delayed packet (ARCHITECTURE.md §5).
using NetStack.Simulation;

namespace NetStack.Link.Simulation;

/// <summary>
/// The deterministic driver of a simulation (ARCHITECTURE.md §5): pumps every wire until nothing moves, then jumps
/// the <see cref="ManualClock"/> to the next event (a stack timer or a delayed packet), and so on until a
/// condition holds. With a seeded impairment and single-threaded application logic, a run replays packet for
/// packet.
/// </summary>
public sealed class SimulationDriver
{
    private readonly PipeLink[] _links;

    /// <summary>Creates a driver over <paramref name="clock"/> and the wires it pumps.</summary>
    public SimulationDriver(ManualClock clock, params PipeLink[] links)
    {
        Clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _links = links;
    }

    /// <summary>The virtual clock.</summary>
    public ManualClock Clock { get; }

    /// <summary>
    /// Real time granted to other threads (async continuations of application code) before virtual time
    /// advances while the wires are quiet. Zero (the default) keeps runs purely single-threaded.
    /// </summary>
    public TimeSpan RealTimeGrace { get; set; }

    /// <summary>Pump rounds done.</summary>
    public long Steps { get; private set; }

    /// <summary>Pumps every wire once; returns the packets moved.</summary>
    public int PumpOnce()
    {
        int moved = 0;
        foreach (PipeLink link in _links)
        {
            moved += link.PumpOnce();
        }
        Steps++;
        return moved;
    }

    /// <summary>
    /// Runs until <paramref name="done"/> returns true (true), or the virtual clock has advanced by
    /// <paramref name="maxVirtualTime"/> or nothing is left to happen (false). <paramref name="idle"/>, when
    /// given, runs whenever the wires are quiet (e.g. to let application code send), before time advances; it
    /// returns true if it did something.
    /// </summary>
    public bool RunUntil(Func<bool> done, TimeSpan maxVirtualTime, Func<bool>? idle = null)
    {
        ArgumentNullException.ThrowIfNull(done);
        TimeSpan deadline = Clock.Elapsed + maxVirtualTime;
        while (true)
        {
            if (done())
            {
                return true;
            }
            if (PumpOnce() > 0 || (idle?.Invoke() ?? false))
            {
                continue;
            }
            if (RealTimeGrace > TimeSpan.Zero && WaitRealTime(done))
            {
                continue;
            }
            TimeSpan? next = NextEvent();
            if (next is null || Clock.Elapsed + next.Value > deadline)
            {
                return done();
            }
            Clock.Advance(next.Value);
        }
    }

    private bool WaitRealTime(Func<bool> done)
    {
        long until = Environment.TickCount64 + (long)RealTimeGrace.TotalMilliseconds;
        do
        {
            Thread.Sleep(1);
            if (done() || PumpOnceQuiet())
            {
                return true;
            }
        }
        while (Environment.TickCount64 < until);
        return false;
    }

    private bool PumpOnceQuiet() => PumpOnce() > 0;

    /// <summary>Time until the next timer or delayed packet, or null.</summary>
    public TimeSpan? NextEvent()
    {
        TimeSpan? next = Clock.TimeUntilNextTimer;
        foreach (PipeLink link in _links)
        {
            if (link.NextDue() is TimeSpan t && (next is null || t < next))
            {
                next = t;
            }
        }
        return next;
    }
}
