namespace NetStack.Buffers;

/// <summary>Sizes and limits of a <see cref="PacketBufferPool"/>.</summary>
public sealed record PacketBufferPoolOptions
{
    /// <summary>
    /// Chunk sizes, ascending. A rental takes the smallest class that fits headroom + capacity. The defaults
    /// fit an MTU-sized packet, a jumbo frame, and a 64 KiB GSO super-segment with a virtio header and headroom.
    /// </summary>
    public int[] SizeClasses { get; init; } = [2048, 16384, 65536 + 1024];

    /// <summary>How many free chunks each class keeps; returns beyond this go to the GC and are counted as discards.</summary>
    public int[] MaxRetained { get; init; } = [8192, 1024, 256];

    /// <summary>
    /// The global cap: memory in chunks held by live packets (rented and not yet returned) beyond which the
    /// stack drops inbound packets, counted as IpDropReason.PoolLimit, so that nothing a peer sends can make it
    /// pin memory without bound (as Linux drops under tcp_mem / udp_mem pressure). Zero: no cap.
    /// </summary>
    public long MaxLiveBytes { get; init; } = 1L << 30;

    /// <summary>How many free <see cref="PacketBuffer"/> objects the pool keeps.</summary>
    public int MaxRetainedBuffers { get; init; } = 16384;

    /// <summary>
    /// Debug mode: record the stack trace of every rental, never recycle <see cref="PacketBuffer"/> objects,
    /// and report the rental site on double release or use after release. Slow; meant for tests.
    /// </summary>
    public bool DebugTracking { get; init; }

    /// <summary>Headroom reserved in front of the data when the caller does not say (IPv6 + TCP with options + virtio header).</summary>
    public int DefaultHeadroom { get; init; } = 128;
}
