// Layer: simulated links. How a PipeLink treats super-segments, impairs each direction and batches its pumps.
using Microsoft.Extensions.Logging;

namespace NetStack.Link.Simulation;

/// <summary>What a <see cref="PipeLink"/> does with a GSO super-segment (a packet with <see cref="GsoOptions"/>).</summary>
public enum PipeLinkGso
{
    /// <summary>Split it when the direction is impaired (loss and corruption hit wire segments), else pass it through.</summary>
    Auto,
    /// <summary>Always split it into MSS-sized segments with full checksums, as a NIC would before the wire.</summary>
    Split,
    /// <summary>
    /// Hand it over whole, like a veth pair: a partial checksum is marked validated, since the bytes never left
    /// memory. The receiving stack takes the super-segment as one large segment.
    /// </summary>
    PassThrough,
}

/// <summary>How a <see cref="PipeLink"/> behaves.</summary>
public sealed record PipeLinkOptions
{
    /// <summary>Impairments on the A → B direction (null: a perfect wire).</summary>
    public ImpairmentOptions? AToB { get; init; }

    /// <summary>Impairments on the B → A direction (null: a perfect wire).</summary>
    public ImpairmentOptions? BToA { get; init; }

    /// <summary>Seed of the A → B impairment stage; the B → A stage uses a seed derived from it.</summary>
    public int Seed { get; init; }

    /// <summary>The clock of the impairment stages and of <see cref="PipeLink.RunAsync"/>'s waits; <see cref="TimeProvider.System"/> when null.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>Packets read from a source at once (default 64).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Most batches one direction moves in one <see cref="PipeLink.PumpOnce"/>, so a busy source cannot starve the other direction (default 16).</summary>
    public int MaxBatchesPerPump { get; init; } = 16;

    /// <summary>What to do with GSO super-segments (default <see cref="PipeLinkGso.Auto"/>).</summary>
    public PipeLinkGso Gso { get; init; } = PipeLinkGso.Auto;

    /// <summary>Name used in the impairment stages' metric tags (suffixed with the direction).</summary>
    public string Name { get; init; } = "pipe";

    /// <summary>Where the pump logs faults caught on the wire (at most once a minute); null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
