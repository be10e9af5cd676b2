// Layer: network. IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5) and IPv4 fragmentation on output.
// Reassembly holds fragments by reference and builds the datagram without copying payload; every limit
// (memory, datagrams, fragments, time) is an option, and every drop is counted by reason (ARCHITECTURE.md §6).
namespace NetStack.Network.Fragmentation;

/// <summary>
/// Limits of a <see cref="FragmentReassembler"/>. Nothing the reassembler holds grows past these: memory held
/// by fragments, datagrams in flight, fragments per datagram, keys remembered after an overlap, and time.
/// </summary>
public sealed record ReassemblyOptions
{
    /// <summary>
    /// Most bytes held across all datagrams, counted as the pooled memory the held fragments pin (the sizes of
    /// the chunks each fragment references, plus <see cref="FragmentReassembler.PerFragmentOverhead"/>), not
    /// just their payload: an attacker's 8-byte fragment in a 2 KiB chunk costs 2 KiB. Default 4 MiB (Linux's
    /// <c>ipfrag_high_thresh</c>). When a fragment would go past it, the oldest other datagrams are evicted.
    /// </summary>
    public long MaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Most datagrams being reassembled at once; a new one past it evicts the oldest. Default 1024.</summary>
    public int MaxDatagrams { get; init; } = 1024;

    /// <summary>
    /// Most fragments held for one datagram; one more discards the datagram. Default 128, the
    /// <see cref="Buffers.PacketBuffer.MaxPayloadSegments"/> a reassembled datagram can reference.
    /// </summary>
    public int MaxFragmentsPerDatagram { get; init; } = 128;

    /// <summary>Time to wait for the rest of an IPv4 datagram after its first fragment arrived. Default 30 s (Linux <c>ipfrag_time</c>; RFC 791 §3.2 suggests 15 s).</summary>
    public TimeSpan Ipv4Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time to wait for the rest of an IPv6 datagram after its first fragment arrived. Default 60 s (RFC 8200 §4.5).</summary>
    public TimeSpan Ipv6Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the key of a datagram discarded for overlapping (or inconsistent) fragments is remembered, so
    /// its later fragments are dropped too (RFC 5722 §4). Null (the default): the version's reassembly timeout;
    /// zero: no quarantine.
    /// </summary>
    public TimeSpan? QuarantineTime { get; init; }

    /// <summary>Most keys remembered after overlaps; past it the oldest is forgotten. Default 1024.</summary>
    public int MaxQuarantinedKeys { get; init; } = 1024;
}
