// Layer: link endpoints. The channel endpoint between a stack and a packet device (TUN, an in-memory wire, a test):
// inbound RX validation and GRO into the stack's dispatcher, outbound a bounded queue the device drains.
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Wire;

namespace NetStack.Link.Channels;

/// <summary>Counted events of a <see cref="ChannelEndpoint"/> (drops have their own reasons in <see cref="RxDropReason"/>).</summary>
public enum ChannelEvent
{
    /// <summary>Packets handed to the inbound side.</summary>
    InboundPackets,
    /// <summary>Packets (after GRO, possibly coalesced) delivered to the dispatcher.</summary>
    InboundDelivered,
    /// <summary>Inbound packets dropped because no dispatcher was attached.</summary>
    InboundNotAttached,
    /// <summary>Inbound packets dropped because the endpoint was closed.</summary>
    InboundAfterClose,
    /// <summary>Packets taken by <see cref="ChannelEndpoint.WritePackets"/>.</summary>
    OutboundPackets,
    /// <summary>Packets refused by <see cref="ChannelEndpoint.WritePackets"/> because the queue was full (back-pressure).</summary>
    OutboundQueueFull,
    /// <summary>Packets refused because the endpoint was closed.</summary>
    WriteAfterClose,
}

/// <summary>
/// The link endpoint between the stack and a packet device (the TUN layer, a wire, a test), after the
/// reference design of Tailscale's netstack endpoint on gVisor's channel endpoint.
/// <para>Inbound: <see cref="InjectInbound"/> validates and delivers one packet; <see cref="EnqueueGro"/> and
/// <see cref="FlushGro"/> take a batch, coalescing TCP segments of a flow (GRO) and delivering at the flush.
/// Both validate RX checksums first (<see cref="RxChecksumValidator"/>) and count every drop by reason; the
/// endpoint advertises <see cref="LinkCapabilities.RxChecksumOffload"/> so the stack never re-validates. The inbound
/// methods are an exception boundary (docs/ARCHITECTURE.md §6): whatever validation, GRO or the dispatcher throws
/// costs the packet it worked on (<see cref="RxDropReason.ProcessingFault"/>), never the device's reader.
/// The inbound methods are for one thread at a time (the device's reader): they are not thread-safe against
/// each other.</para>
/// <para>Outbound: a bounded queue of packets up to 64 KiB with <see cref="GsoOptions"/>. A full queue
/// refuses the rest of a batch (back-pressure: see <see cref="WaitWritableAsync"/>) and counts it.
/// <see cref="Close"/> is idempotent, safe concurrently with writes and reads, flushes GRO and releases
/// every queued buffer.</para>
/// </summary>
public sealed partial class ChannelEndpoint : ILinkEndpoint, IPacketSink, IPacketSource
{
    private static readonly Meter s_meter = new("NetStack.Link.Channel", "1.0");

    private readonly ChannelEndpointOptions _options;
    private readonly ReasonCounters<ChannelEvent> _events;
    private readonly ReasonCounters<RxDropReason> _drops;
    private readonly FaultLog _faults;
    private volatile INetworkDispatcher? _dispatcher;
    private volatile bool _closed;
    private int _inboundBusy; // 1 while an inbound call runs; Close waits for it

    /// <summary>Creates an endpoint.</summary>
    public ChannelEndpoint(ChannelEndpointOptions? options = null)
    {
        _options = options ?? new ChannelEndpointOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.OutboundQueueCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(_options.DeviceHeaderLength);
        Mtu = _options.Mtu;
        var tags = new KeyValuePair<string, object?>[] { new("endpoint", _options.Name) };
        _events = new ReasonCounters<ChannelEvent>(s_meter, "netstack.link.channel.events", "Channel endpoint events", tags);
        _drops = new ReasonCounters<RxDropReason>(s_meter, "netstack.link.channel.rx_drops", "Inbound packets dropped by RX validation", tags);
        _faults = new FaultLog(_options.LoggerFactory?.CreateLogger("NetStack.Link.Channel") ?? (ILogger)NullLogger.Instance, TimeProvider.System,
            $"channel endpoint {_options.Name}'s inbound path");
        _outbound = Channel.CreateBounded<PacketBuffer>(new BoundedChannelOptions(_options.OutboundQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we report it, never drop silently
            SingleReader = false,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
        InitializeGro();
    }

    /// <summary>Event counts (packets in/out, back-pressure, …).</summary>
    public ReasonCounters<ChannelEvent> Events => _events;

    /// <summary>Inbound drops by reason.</summary>
    public ReasonCounters<RxDropReason> RxDrops => _drops;

    /// <summary>Largest IP packet (header included) the link carries without GSO; changeable while the stack runs.</summary>
    public int Mtu { get; set; }

    /// <summary>Room the stack keeps in front of outbound packets for the device's own header (<see cref="ChannelEndpointOptions.DeviceHeaderLength"/>).</summary>
    public int MaxHeaderLength => _options.DeviceHeaderLength;

    /// <inheritdoc/>
    public LinkCapabilities Capabilities => _options.TxChecksumOffload ? LinkCapabilities.RxChecksumOffload | LinkCapabilities.TxChecksumOffload : LinkCapabilities.RxChecksumOffload;

    /// <inheritdoc/>
    public int GsoMaxSize => _options.Gso == GsoSupport.None ? 0 : _options.GsoMaxSize;

    /// <inheritdoc/>
    public GsoSupport SupportedGso => _options.Gso;

    /// <inheritdoc/>
    public bool IsAttached => _dispatcher is not null;

    /// <summary>True once <see cref="Close"/> ran.</summary>
    public bool IsClosed => _closed;

    /// <inheritdoc/>
    public void Attach(INetworkDispatcher? dispatcher) => _dispatcher = dispatcher;

    /// <summary>Validates and delivers one inbound packet at once (no GRO). Takes ownership of one reference.</summary>
    public void InjectInbound(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        EnterInbound();
        try
        {
            _events.Increment(ChannelEvent.InboundPackets);
            if (Admit(packet))
            {
                Deliver(packet);
            }
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e, null);
        }
        finally
        {
            ExitInbound();
        }
    }

    /// <summary>
    /// Validates one packet of a batch and hands it to GRO, which may hold it until <see cref="FlushGro"/>.
    /// Takes ownership of one reference. Not thread-safe against the other inbound methods.
    /// </summary>
    public void EnqueueGro(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        EnterInbound();
        try
        {
            _events.Increment(ChannelEvent.InboundPackets);
            if (Admit(packet))
            {
                GroEnqueue(packet); // GRO owns it now: a fault inside is counted, the packet not touched again
            }
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e, null);
        }
        finally
        {
            ExitInbound();
        }
    }

    /// <summary>Ends a batch: GRO delivers every packet it holds.</summary>
    public void FlushGro()
    {
        EnterInbound();
        try
        {
            GroFlush();
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e, null);
        }
        finally
        {
            ExitInbound();
        }
    }

    void IPacketSink.Enqueue(PacketBuffer packet) => EnqueueGro(packet);

    void IPacketSink.Flush() => FlushGro();

    /// <inheritdoc/>
    public void Close()
    {
        EnterInbound();
        try
        {
            if (_closed)
            {
                return;
            }
            GroFlush();
            _closed = true;
        }
        finally
        {
            ExitInbound();
        }
        _outbound.Writer.TryComplete();
        Drain();
    }

    private bool Admit(PacketBuffer packet)
    {
        if (_closed)
        {
            _events.Increment(ChannelEvent.InboundAfterClose);
            packet.Release();
            return false;
        }
        RxVerdict verdict;
        RxDropReason reason;
        try
        {
            verdict = RxChecksumValidator.Validate(packet, out reason);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e, packet);
            packet.Release();
            return false;
        }
        if (verdict == RxVerdict.Drop)
        {
            _drops.Increment(reason);
            packet.Release();
            return false;
        }
        return true;
    }

    /// <summary>
    /// A fault on the inbound path: counted as <see cref="RxDropReason.ProcessingFault"/> and logged (once a minute at
    /// most; with <paramref name="packet"/>'s bytes at debug level when the caller still holds it).
    /// </summary>
    private void OnFault(Exception e, PacketBuffer? packet)
    {
        _drops.Increment(RxDropReason.ProcessingFault);
        _faults.Report(e, packet);
    }

    /// <summary>Hands a packet to the dispatcher (which borrows it) and drops our reference.</summary>
    private void Deliver(PacketBuffer packet)
    {
        INetworkDispatcher? dispatcher = _dispatcher;
        if (dispatcher is null)
        {
            _events.Increment(ChannelEvent.InboundNotAttached);
        }
        else
        {
            _events.Increment(ChannelEvent.InboundDelivered);
            try
            {
                dispatcher.DeliverNetworkPacket(packet.NetworkProtocol, packet);
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                OnFault(e, packet); // the dispatcher only borrowed it: still ours to read and release
            }
            finally
            {
                packet.Release();
            }
            return;
        }
        packet.Release();
    }

    private void EnterInbound()
    {
        if (Interlocked.CompareExchange(ref _inboundBusy, 1, 0) != 0)
        {
            var spinner = default(SpinWait);
            do
            {
                spinner.SpinOnce();
            }
            while (Interlocked.CompareExchange(ref _inboundBusy, 1, 0) != 0);
        }
    }

    private void ExitInbound() => Volatile.Write(ref _inboundBusy, 0);
}
