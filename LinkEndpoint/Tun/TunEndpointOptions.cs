// Layer: link endpoints, Linux TUN. What a TunEndpoint does: offloads, GRO on write, batch sizes, queue bounds, and
// the decorators (capture, impairment) at the stack's edge of the device.
using Microsoft.Extensions.Logging;
using NetStack.Buffers;
using NetStack.Link.Capture;
using NetStack.Link.Gso;
using NetStack.Link.Simulation;

namespace NetStack.Link.Tun;

/// <summary>What a GSO super-packet read from the kernel becomes.</summary>
public enum InboundGsoMode
{
    /// <summary>One large TCP segment for the stack (after its checksum is completed); the default, chosen by measurement (BENCHMARKS.md).</summary>
    Deliver,
    /// <summary>MSS-sized segments cut by <see cref="GsoSegmenter"/> (which GRO may merge again).</summary>
    Split,
}

/// <summary>Configuration of a <see cref="TunEndpoint"/>.</summary>
public sealed record TunEndpointOptions
{
    /// <summary>Link MTU the stack sees (set the device's with <see cref="TunDevice.SetMtu"/>).</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Open the device with IFF_VNET_HDR and negotiate offloads (false: a plain TUN, everything MTU-sized both ways).</summary>
    public bool Offload { get; init; } = true;

    /// <summary>Also ask for USO4/USO6 (Linux ≥ 6.2) once TSO is in force.</summary>
    public bool Uso { get; init; } = true;

    /// <summary>What a super-packet from the kernel becomes.</summary>
    public InboundGsoMode InboundGso { get; init; } = InboundGsoMode.Deliver;

    /// <summary>
    /// Take the kernel's NEEDS_CSUM (CHECKSUM_PARTIAL) and DATA_VALID (CHECKSUM_UNNECESSARY) as verified, as Linux's
    /// virtio_net does, when the checksum sits where the transport header is: no pass over the payload on read
    /// (see <see cref="VirtioInbound"/>). False: complete every partial checksum and verify it (two passes).
    /// </summary>
    public bool TrustKernelChecksums { get; init; } = true;

    /// <summary>Coalesce the stack's outbound TCP segments of a flow into GSO super-packets before writing (needs the virtio header).</summary>
    public bool TcpGroOnWrite { get; init; } = true;

    /// <summary>Coalesce the stack's outbound UDP datagrams of a flow into USO packets before writing (needs USO negotiated, Linux ≥ 6.2).</summary>
    public bool UdpGroOnWrite { get; init; } = true;

    /// <summary>At start, write one GRO'd TCP and one USO probe packet and switch TCP and UDP GRO on write off, each on its own, when the kernel rejects it.</summary>
    public bool ProbeGroOnWrite { get; init; } = true;

    /// <summary>Most packets read before GRO is flushed and the reader polls again.</summary>
    public int ReadBatchSize { get; init; } = 64;

    /// <summary>
    /// Packets the stack queues while the reader thread runs it (ACKs, data the ACKs let out) are written by the
    /// reader at the end of its batch, without waking the writer loop (false: the writer loop writes everything).
    /// </summary>
    public bool InlineWrites { get; init; } = true;

    /// <summary>
    /// ACK filtering on write (RFC 3449 §5.2.1): a pure cumulative ACK superseded by a later one of its connection in
    /// the same write batch is not written (only ACK-only segments without payload or SACK blocks count; duplicate ACKs and
    /// window updates always go out).
    /// </summary>
    public bool AckFilter { get; init; } = true;

    /// <summary>Most packets the reader writes at the end of one batch; the writer loop takes the rest.</summary>
    public int InlineWriteLimit { get; init; } = 256;

    /// <summary>Most packets drained from the outbound queue per write batch.</summary>
    public int WriteBatchSize { get; init; } = 64;

    /// <summary>Outbound queue bound, in packets (4096: 32 parallel flows at MSS-sized segments still fit a window each).</summary>
    public int OutboundQueueCapacity { get; init; } = 4096;

    /// <summary>Inbound GRO in the channel endpoint.</summary>
    public bool EnableGro { get; init; } = true;

    /// <summary>Pool the reader rents from (use the stack's).</summary>
    public PacketBufferPool Pool { get; init; } = PacketBufferPool.Shared;

    /// <summary>
    /// Decorators between the device and the channel endpoint's inbound side (a <see cref="PcapTapSink"/>, an
    /// <see cref="ImpairmentStage"/> for kernels without netem, a test tracer): given the sink packets read from the
    /// device go to, returns the sink to enqueue into instead. The endpoint drives what it returns (its due packets
    /// on the reader thread) and disposes it. Null (the default) costs nothing.
    /// </summary>
    public Func<IPacketSink, IPacketSink>? Inbound { get; init; }

    /// <summary>
    /// Decorators between the channel endpoint's outbound queue and the device: given the sink that writes batches to
    /// the device, returns the sink drained packets go through instead (one call per packet; the writer flushes it
    /// at the end of each drained batch). The endpoint drives and disposes what it returns. Null (the default): drained
    /// batches go straight to the write path.
    /// </summary>
    public Func<IPacketSink, IPacketSink>? Outbound { get; init; }

    /// <summary>Name used in metric tags and logs.</summary>
    public string Name { get; init; } = "tun";

    /// <summary>Logger for offload negotiation, probes and rare errors.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
