// Layer: link endpoints, Linux TUN (ARCHITECTURE.md §2, §4, §9). A TunEndpoint joins a TunDevice to a ChannelEndpoint:
// a reader thread moves packets device → channel (batched reads, virtio header judged, GRO flushed per
// batch), a writer loop moves them channel → device (batched drains, GRO on write, one writev per packet).
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Link.Channels;

namespace NetStack.Link.Tun;

/// <summary>
/// The stack's side of a Linux TUN device. Give <see cref="Channel"/> to <c>NetworkStack.CreateNic</c>, then
/// <see cref="Start"/>. With the virtio header (<see cref="TunEndpointOptions.Offload"/>) the channel takes
/// host GSO: super-segments leave as one <c>writev</c> of virtio header + headers + payload pieces, and the
/// kernel's own TSO/USO super-packets arrive whole (or split, see <see cref="InboundGsoMode"/>).
/// <para>Threads: the reader is a dedicated thread (not the pool) that blocks only in <c>poll</c> on the TUN
/// fd and an eventfd used to stop it; it runs the stack's inbound path, and at the end of each batch writes
/// what that work queued (the ACKs) itself. The writer is an async loop on the pool, woken for packets other
/// threads queue; it makes only non-blocking <c>writev</c> calls. One of the two writes at a time (a turn taken
/// by compare-and-swap, never waited for). No lock is held across a copy or a system call.</para>
/// <para>Both loops are exception boundaries (docs/ARCHITECTURE.md §6): whatever work on a packet or a batch throws
/// costs that packet or batch (<see cref="TunDropReason.ProcessingFault"/>, <see cref="TunEvent.Faults"/>), never the
/// loop.</para>
/// <para><see cref="Dispose"/> stops both, closes the channel (releasing every queued packet), releases the
/// reader's spare buffers and closes the descriptors.</para>
/// </summary>
public sealed partial class TunEndpoint : IDisposable
{
    private static readonly Meter s_meter = new("NetStack.Link.Tun", "1.0");

    private readonly TunEndpointOptions _options;
    private readonly ILogger _logger;
    private readonly PacketBufferPool _pool;
    private readonly CancellationTokenSource _stop = new();
    private readonly FileDescriptorHandle _wake;
    private readonly FaultLog _readerFaults;
    private readonly FaultLog _writerFaults;
    private readonly Diagnostics.LimitLog _deviceFull;
    private Thread? _reader;
    private Task? _writer;
    private int _started;
    private int _disposed;

    /// <summary>Opens (or creates) the TUN device <paramref name="name"/> and wraps it.</summary>
    public static TunEndpoint Open(string name, TunEndpointOptions? options = null)
    {
        options ??= new TunEndpointOptions();
        ILogger? logger = options.LoggerFactory?.CreateLogger("NetStack.Link.Tun");
        TunDevice device = TunDevice.Open(name, options.Offload, tso: true, uso: options.Uso, logger);
        return new TunEndpoint(device, options);
    }

    /// <summary>Wraps an open device; the endpoint owns it from now on (disposing the endpoint closes it).</summary>
    public TunEndpoint(TunDevice device, TunEndpointOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        _options = options ?? new TunEndpointOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.ReadBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.WriteBatchSize, 1);
        Device = device;
        _pool = _options.Pool;
        _logger = _options.LoggerFactory?.CreateLogger("NetStack.Link.Tun") ?? NullLogger.Instance;
        _readerFaults = new FaultLog(_logger, TimeProvider.System, $"TUN {device.Name}'s reader");
        _writerFaults = new FaultLog(_logger, TimeProvider.System, $"TUN {device.Name}'s writer");
        _deviceFull = new Diagnostics.LimitLog(_logger, TimeProvider.System, $"TUN {device.Name}'s queue full (EAGAIN): packets tail-dropped");
        var tags = new KeyValuePair<string, object?>[] { new("endpoint", _options.Name) };
        Events = new ReasonCounters<TunEvent>(s_meter, "netstack.link.tun.events", "TUN endpoint events", tags);
        Drops = new ReasonCounters<TunDropReason>(s_meter, "netstack.link.tun.drops", "Packets dropped by the TUN layer", tags);
        Channel = new ChannelEndpoint(new ChannelEndpointOptions
        {
            Mtu = _options.Mtu,
            Gso = device.HasVnetHeader ? GsoSupport.Host : GsoSupport.None,
            OutboundQueueCapacity = _options.OutboundQueueCapacity,
            EnableGro = _options.EnableGro,
            DeviceHeaderLength = device.HasVnetHeader ? VirtioNetHeader.Length : 0, // written into the headroom
            TxChecksumOffload = device.HasVnetHeader, // NEEDS_CSUM: the kernel finishes a single packet's checksum
            Name = _options.Name,
            LoggerFactory = _options.LoggerFactory,
        });
        TcpGroOnWrite = device.HasVnetHeader && _options.TcpGroOnWrite;
        UdpGroOnWrite = device.HasVnetHeader && _options.UdpGroOnWrite && (device.Offloads & (TunOffloads.Uso4 | TunOffloads.Uso6)) == (TunOffloads.Uso4 | TunOffloads.Uso6);
        int wake = LinuxNative.EventFd(0, LinuxNative.EFD_NONBLOCK | LinuxNative.EFD_CLOEXEC);
        if (wake < 0)
        {
            throw TunDevice.Error("eventfd", LinuxNative.LastError);
        }
        _wake = new FileDescriptorHandle(wake, ownsHandle: true);
        InitializeReader();
        InitializeWriter();
    }

    /// <summary>The device.</summary>
    public TunDevice Device { get; }

    /// <summary>The link endpoint for the stack (<c>NetworkStack.CreateNic(endpoint.Channel)</c>).</summary>
    public ChannelEndpoint Channel { get; }

    /// <summary>Events (packets and bytes each way, GSO, GRO on write, batches).</summary>
    public ReasonCounters<TunEvent> Events { get; }

    /// <summary>Drops by reason.</summary>
    public ReasonCounters<TunDropReason> Drops { get; }

    /// <summary>TCP GRO on write is in force (options, virtio header, and the start-up probe agree).</summary>
    public bool TcpGroOnWrite { get; private set; }

    /// <summary>UDP GRO on write is in force (options, USO negotiated, and the start-up probe agree).</summary>
    public bool UdpGroOnWrite { get; private set; }

    /// <summary>
    /// Probes GRO on write (when asked), then starts the reader thread and the writer loop. The device should
    /// be up (a write to a down TUN fails, and the probe then decides nothing).
    /// </summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The TUN endpoint is already started.");
        }
        if (_options.ProbeGroOnWrite && (TcpGroOnWrite || UdpGroOnWrite))
        {
            ProbeGroOnWrite();
        }
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tun-reader {Device.Name}" };
        _reader.Start();
        _writer = Task.Run(() => WriteLoopAsync(_stop.Token));
    }

    /// <summary>True while the reader thread runs (started, not yet stopped by <see cref="Dispose"/> or a device error).</summary>
    public bool IsReaderRunning => _reader?.IsAlive == true;

    /// <summary>A one-line summary of the counters (for `netstack serve` on exit).</summary>
    public string DescribeCounters() =>
        $"tun {Device.Name}: events [{Events}] drops [{Drops}] channel [{Channel.Events}] rx-drops [{Channel.RxDrops}]"
        + (Channel.Gro is { } gro ? $" gro [{gro.Events}]" : "");

    /// <summary>Stops the loops, closes the channel, releases every buffer and closes the device.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        SignalWake();
        _reader?.Join();
        Channel.OutboundQueued = null;
        Channel.Close();
        _writerSignal.Set(); // the writer loop sees the cancellation and ends
        try
        {
            _writer?.Wait();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
        }
        Channel.Drain();
        ReleaseReaderBuffers();
        ReleaseWriterBuffers();
        _wake.Dispose();
        Device.Dispose();
        _stop.Dispose();
    }

    private unsafe void SignalWake()
    {
        ulong one = 1;
        _ = LinuxNative.Write(_wake.Fd, (byte*)&one, sizeof(ulong));
    }
}
