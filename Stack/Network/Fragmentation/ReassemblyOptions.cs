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
    /// just their payload: an attacker's 8-byte fragment in a 2 KiB chunk costs 2 KiB (a fragment that pins far
    /// more than its size, such as one that spilled into a 64 KiB read chunk, is first copied into a buffer of
    /// its own size). Default 4 MiB (Linux's <c>ipfrag_high_thresh</c>; its <c>ipfrag_low_thresh</c> has been
    /// unused since Linux 4.17 and has no equivalent here). When a fragment would go past it, datagrams of the
    /// source holding the most memory are evicted, oldest first, so a source within its fair share keeps its own.
    /// </summary>
    public long MaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Most datagrams being reassembled at once; a new one past it evicts a datagram of the source holding the
    /// most. Default 1024.
    /// </summary>
    public int MaxDatagrams { get; init; } = 1024;

    /// <summary>
    /// Most memory (charged as for <see cref="MaxBytes"/>) that the fragments of one source address may hold. A
    /// fragment past it evicts that source's own oldest datagrams, never another source's; one that cannot fit
    /// even then is dropped (<see cref="ReassemblyDropReason.SourceQuota"/>). Default 1 MiB, a quarter of
    /// <see cref="MaxBytes"/>: Linux has no byte quota per source (its inet peer only tracks a source's
    /// fragments for <c>ipfrag_max_dist</c>), so one source there can take the whole <c>ipfrag_high_thresh</c>.
    /// </summary>
    public long MaxBytesPerSource { get; init; } = 1024 * 1024;

    /// <summary>
    /// Most datagrams one source address may have in reassembly; a new one past it evicts that source's oldest.
    /// Default 64, Linux's <c>ipfrag_max_dist</c> (how many fragments of a source may arrive while one of its
    /// datagrams waits before that datagram is taken as lost).
    /// </summary>
    public int MaxDatagramsPerSource { get; init; } = 64;

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
