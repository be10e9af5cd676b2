// Layer: GRO. Limits of one TcpGro instance (ARCHITECTURE.md §6: every resource has an explicit bound).
namespace NetStack.Gro;

/// <summary>Limits and naming of a <see cref="TcpGro"/>.</summary>
public sealed record GroOptions
{
    /// <summary>Largest IP datagram a super-segment may become (ARCHITECTURE.md §4: merged IP length ≤ 65535).</summary>
    public const int MaxIpLength = 65535;

    /// <summary>
    /// Most flows held at once (default 64). When a new flow arrives and every slot is taken, the flow held
    /// longest is flushed (counted as <see cref="GroFlushReason.Eviction"/>). Flow slots are allocated once.
    /// </summary>
    public int MaxFlows { get; init; } = 64;

    /// <summary>
    /// Largest IP length (header included) of a coalesced packet, at most <see cref="MaxIpLength"/>. A flow
    /// whose next full segment would not fit is flushed at once (<see cref="GroFlushReason.Full"/>).
    /// </summary>
    public int MaxSuperSegmentLength { get; init; } = MaxIpLength;

    /// <summary>Value of the <c>gro</c> tag on this instance's metrics.</summary>
    public string Name { get; init; } = "gro";
}
