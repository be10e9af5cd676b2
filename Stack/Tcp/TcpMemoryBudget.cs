// Layer: transport (TCP). The stack-wide TCP memory budget, modelled on Linux's tcp_mem: every connection charges
// the bytes its send and receive queues hold, in pages, against three thresholds; under pressure buffer auto-tuning
// stops growing and send buffers shrink toward their floor, above the hard limit no buffer grows at all.
namespace NetStack.Tcp;

/// <summary>
/// The thresholds of the TCP memory budget, in 4 KiB pages across all connections of a stack (Linux's
/// <c>net.ipv4.tcp_mem</c>: low, pressure, high). Above <see cref="PressurePages"/> the stack is under memory
/// pressure until the total falls below <see cref="LowPages"/>; above <see cref="HardPages"/> no buffer grows.
/// </summary>
public sealed record TcpMemoryLimits
{
    /// <summary>Bytes per page the thresholds count in (Linux's tcp_mem counts pages).</summary>
    public const int PageSize = 4096;

    /// <summary>Below this the stack leaves memory pressure (tcp_mem[0]).</summary>
    public required long LowPages { get; init; }

    /// <summary>Above this the stack enters memory pressure (tcp_mem[1]).</summary>
    public required long PressurePages { get; init; }

    /// <summary>Above this no connection's buffer grows and send buffers fall to their floor (tcp_mem[2]).</summary>
    public required long HardPages { get; init; }

    /// <summary>
    /// Thresholds derived as Linux's tcp_init_mem derives them from free memory: pressure at 1/16 of the memory
    /// available to the process (at least 128 pages), low at three quarters of that, hard at twice low.
    /// </summary>
    public static TcpMemoryLimits ForAvailableMemory(long availableBytes)
    {
        long limit = Math.Max(availableBytes / PageSize / 16, 128);
        long low = limit / 4 * 3;
        return new TcpMemoryLimits { LowPages = low, PressurePages = limit, HardPages = low * 2 };
    }

    /// <summary>Thresholds for a total in bytes: pressure at <paramref name="pressureBytes"/>, low at 3/4 of it, hard at <paramref name="hardBytes"/>.</summary>
    public static TcpMemoryLimits ForBytes(long pressureBytes, long hardBytes)
    {
        long pressure = Math.Max(pressureBytes / PageSize, 1);
        return new TcpMemoryLimits { LowPages = pressure / 4 * 3, PressurePages = pressure, HardPages = Math.Max(hardBytes / PageSize, pressure) };
    }

    /// <summary>The default: <see cref="ForAvailableMemory"/> of what the GC reports available (physical memory or the container's limit).</summary>
    public static TcpMemoryLimits Default => ForAvailableMemory(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    /// <summary>Throws when the thresholds are not ordered low ≤ pressure ≤ hard, or are negative.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(LowPages, nameof(LowPages));
        ArgumentOutOfRangeException.ThrowIfLessThan(PressurePages, LowPages, nameof(PressurePages));
        ArgumentOutOfRangeException.ThrowIfLessThan(HardPages, PressurePages, nameof(HardPages));
    }
}

/// <summary>
/// The running budget of one stack's TCP: the pages its connections' queues hold, and whether that is under
/// pressure or above the hard limit. Thread-safe: connections charge it under their own locks.
/// </summary>
public sealed class TcpMemoryBudget
{
    private const int PageShift = 12;
    private long _allocated;
    private int _pressure; // 1 from crossing PressurePages until falling below LowPages (Linux's tcp_memory_pressure)
    private long _pressureEntered;

    /// <summary>A budget with <paramref name="limits"/>.</summary>
    public TcpMemoryBudget(TcpMemoryLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.Validate();
        Limits = limits;
    }

    /// <summary>The thresholds.</summary>
    public TcpMemoryLimits Limits { get; }

    /// <summary>Pages charged now across all connections.</summary>
    public long AllocatedPages => Volatile.Read(ref _allocated);

    /// <summary>Under memory pressure: buffers stop growing and send buffers shrink toward their floor.</summary>
    public bool UnderPressure => Volatile.Read(ref _pressure) != 0;

    /// <summary>Above the hard limit: no buffer grows, send buffers hold no more than their floor.</summary>
    public bool AboveHard => Volatile.Read(ref _allocated) > Limits.HardPages;

    /// <summary>Times the stack entered memory pressure.</summary>
    public long PressureEntered => Volatile.Read(ref _pressureEntered);

    /// <summary>Pages that <paramref name="bytes"/> of queued data charge.</summary>
    internal static long PagesFor(long bytes) => (bytes + TcpMemoryLimits.PageSize - 1) >> PageShift;

    /// <summary>
    /// Brings one connection's charge to <paramref name="heldBytes"/>: <paramref name="chargedPages"/> is what it
    /// has charged so far (the connection keeps it), updated here. Touches the shared total only when the page
    /// count changed.
    /// </summary>
    internal void Recharge(ref long chargedPages, long heldBytes)
    {
        long pages = PagesFor(heldBytes);
        long delta = pages - chargedPages;
        if (delta == 0)
        {
            return;
        }
        chargedPages = pages;
        long total = Interlocked.Add(ref _allocated, delta);
        if (delta > 0 && total > Limits.PressurePages)
        {
            if (Interlocked.Exchange(ref _pressure, 1) == 0)
            {
                Interlocked.Increment(ref _pressureEntered); // tcp_enter_memory_pressure
            }
        }
        else if (delta < 0 && total < Limits.LowPages)
        {
            Volatile.Write(ref _pressure, 0); // tcp_leave_memory_pressure
        }
    }

    /// <summary>One line for counters output.</summary>
    public override string ToString() =>
        $"allocated {AllocatedPages} pages (low {Limits.LowPages}, pressure {Limits.PressurePages}, hard {Limits.HardPages}), under pressure {UnderPressure}, entered pressure {PressureEntered} times";
}
