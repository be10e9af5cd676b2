// Layer: capture. How a pcap writer queues, truncates and timestamps what it captures.
namespace NetStack.Link.Capture;

/// <summary>How a <see cref="PcapWriter"/> behaves.</summary>
public sealed record PcapWriterOptions
{
    /// <summary>Largest snapshot length libpcap accepts for a savefile written through SharpPcap.</summary>
    public const int MaxSnapshotLength = 65536;

    /// <summary>
    /// Packets waiting to be written (default 4096). A packet captured while the queue is full is not captured,
    /// and counted in <see cref="PcapWriter.DroppedQueueFull"/>; the data path never waits for the file.
    /// </summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>
    /// Write on the caller's thread inside <see cref="PcapWriter.Write"/> instead of on a background writer loop:
    /// deterministic, for tests and single-threaded (simulation) drivers. Calls must not overlap in this mode.
    /// </summary>
    public bool Synchronous { get; init; }

    /// <summary>Bytes of each packet kept in the file (default and maximum 65536); longer packets are truncated, their original length recorded.</summary>
    public int SnapshotLength { get; init; } = MaxSnapshotLength;

    /// <summary>The clock of the packet timestamps (the stack's, so a capture of a simulated run shows simulated time); <see cref="TimeProvider.System"/> when null.</summary>
    public TimeProvider? TimeProvider { get; init; }
}
