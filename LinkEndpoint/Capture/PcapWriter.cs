// Layer: capture. Writes the packets a link carries to a pcap file through SharpPcap (native libpcap) as raw IP:
// opened with DLT_RAW 12 (LinkLayers.RawLegacy; libpcap refuses 101 for savefiles, ARCHITECTURE.md §9), which libpcap
// stores as LINKTYPE_RAW 101 in the file header and reports as 12 when read back. Timestamped by the stack's
// clock. A capture copies the packet's bytes at the tap, so whatever changes the packet downstream (GRO on write
// finishing a super-segment, ID renumbering, checksum completion) cannot tear the record.
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using NetStack.Buffers;
using NetStack.Diagnostics;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace NetStack.Link.Capture;

/// <summary>
/// A thread-safe pcap writer of <see cref="PacketBuffer"/>s (every fragment, in order), one raw-IP record per packet,
/// stamped with the time of <see cref="Write"/> read from a <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// By default a capture costs the caller one copy of the packet's first <see cref="PcapWriterOptions.SnapshotLength"/>
/// bytes into a pooled array (<see cref="ArrayPool{T}.Shared"/>) and one enqueue: the record holds the bytes as they
/// were at the tap, like a Linux packet socket's copy, so a later in-place change of the packet (GRO on write, ID
/// renumbering, checksum completion) cannot tear it, and the writer holds no reference to the packet. A single
/// background writer loop writes the records, so no lock is held across a copy or I/O on the packet path
/// (ARCHITECTURE.md §5). When the bounded queue is full the packet is not captured and the drop is counted; the data
/// path never waits. <see cref="Dispose"/> writes everything still queued and closes the file (libpcap puts the data
/// in the file on close). With <see cref="PcapWriterOptions.Synchronous"/> the record is written
/// inside <see cref="Write"/> instead, which is deterministic and meant for single-threaded drivers and tests.
/// </remarks>
public sealed class PcapWriter : IDisposable, IAsyncDisposable
{
    /// <summary>
    /// Name of the <see cref="Meter"/> every writer publishes its counters on: one process-wide meter whose instruments
    /// observe every open writer, each measurement tagged <c>file</c> with the capture's file name.
    /// </summary>
    public const string MeterName = "NetStack.Link.Capture";

    private static readonly Meter s_meter = new(MeterName, "1.0");
    private static readonly LiveInstances<PcapWriter> s_live = new(); // weakly held: a dropped writer is collected

    /// <summary>
    /// The data link type the file is opened with and read back as: DLT_RAW (12, <c>LinkLayers.RawLegacy</c>); libpcap
    /// stores it as LINKTYPE_RAW (101) in the file header.
    /// </summary>
    public const int LinkType = 12;

    private readonly CaptureFileWriterDevice _device;
    private readonly TimeProvider _time;
    private readonly int _snapshotLength;
    private readonly byte[] _staging;
    private readonly Channel<Record>? _queue;
    private readonly Task? _writerLoop;
    private readonly KeyValuePair<string, object?> _fileTag;
    private PcapHeader _header = new(0, 0, 0, 0);
    private volatile bool _closed;
    private volatile bool _ended;
    private int _disposed;
    private int _synchronousBusy;

    private long _captured;
    private long _droppedQueueFull;
    private long _droppedClosed;
    private long _writeErrors;

    /// <summary>Creates (or truncates) the file at <paramref name="path"/> and writes its raw-IP header.</summary>
    /// <exception cref="InvalidOperationException">The native libpcap library is missing.</exception>
    /// <exception cref="PcapException">libpcap could not open the file.</exception>
    public PcapWriter(string path, PcapWriterOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new PcapWriterOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotLength, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.SnapshotLength, PcapWriterOptions.MaxSnapshotLength, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.QueueCapacity, 1, nameof(options));
        Path = path;
        Synchronous = options.Synchronous;
        _time = options.TimeProvider ?? TimeProvider.System;
        _snapshotLength = options.SnapshotLength;
        _staging = new byte[_snapshotLength];
        _device = OpenDevice(path, _snapshotLength);

        if (!Synchronous)
        {
            _queue = Channel.CreateBounded<Record>(new BoundedChannelOptions(options.QueueCapacity)
            {
                FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: drop and count, never wait
                SingleReader = true,
                SingleWriter = false,
            });
            _writerLoop = Task.Run(WriterLoopAsync);
        }

        _fileTag = new KeyValuePair<string, object?>("file", System.IO.Path.GetFileName(path));
        s_live.Add(this);
    }

    static PcapWriter()
    {
        s_meter.CreateObservableCounter("netstack.link.capture.packets", () => s_live.Observe<long>(static (writer, into) =>
        {
            if (!writer._ended)
            {
                into.Add(new(writer.Captured, writer._fileTag));
            }
        }), unit: "{packet}", description: "Packets written to the capture file");
        s_meter.CreateObservableCounter("netstack.link.capture.dropped", () => s_live.Observe<long>(static (writer, into) =>
        {
            if (!writer._ended)
            {
                into.Add(new(writer.DroppedQueueFull, writer._fileTag, new("reason", "queue_full")));
                into.Add(new(writer.DroppedClosed, writer._fileTag, new("reason", "closed")));
                into.Add(new(writer.WriteErrors, writer._fileTag, new("reason", "write_error")));
            }
        }), unit: "{packet}", description: "Packets not captured, per reason");
    }

    /// <summary>The capture file.</summary>
    public string Path { get; }

    /// <summary>True when records are written inside <see cref="Write"/>.</summary>
    public bool Synchronous { get; }

    /// <summary>Packets written to the file.</summary>
    public long Captured => Interlocked.Read(ref _captured);

    /// <summary>Packets not captured because the queue was full.</summary>
    public long DroppedQueueFull => Interlocked.Read(ref _droppedQueueFull);

    /// <summary>Packets offered after the writer was disposed.</summary>
    public long DroppedClosed => Interlocked.Read(ref _droppedClosed);

    /// <summary>Packets libpcap failed to write.</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);

    /// <summary>Packets waiting for the writer loop.</summary>
    public int Queued => _queue?.Reader.Count ?? 0;

    /// <summary>
    /// Captures <paramref name="packet"/>'s bytes as they are now; the caller keeps the packet and may change it as soon
    /// as this returns (the writer holds no reference). Returns false
    /// when the packet was not captured (queue full or writer disposed; counted). Never blocks on the file unless
    /// the writer is <see cref="Synchronous"/>.
    /// </summary>
    public bool Write(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        long unixTicks = UnixTicks(_time.GetUtcNow());
        if (_closed)
        {
            Interlocked.Increment(ref _droppedClosed);
            return false;
        }
        if (Synchronous)
        {
            if (Interlocked.Exchange(ref _synchronousBusy, 1) != 0)
            {
                throw new InvalidOperationException("A synchronous PcapWriter was called from two threads at once.");
            }
            try
            {
                int length = packet.Length;
                Span<byte> data = _staging.AsSpan(0, Math.Min(length, _snapshotLength));
                packet.CopyTo(0, data); // gathers every fragment
                return WriteRecord(data, length, unixTicks);
            }
            finally
            {
                Volatile.Write(ref _synchronousBusy, 0);
            }
        }
        int packetLength = packet.Length;
        int captureLength = Math.Min(packetLength, _snapshotLength);
        byte[] copy = ArrayPool<byte>.Shared.Rent(captureLength);
        packet.CopyTo(0, copy.AsSpan(0, captureLength)); // the bytes at the tap, whatever happens to the packet next
        if (_queue!.Writer.TryWrite(new Record(copy, captureLength, packetLength, unixTicks)))
        {
            return true;
        }
        ArrayPool<byte>.Shared.Return(copy);
        if (_closed)
        {
            Interlocked.Increment(ref _droppedClosed);
        }
        else
        {
            Interlocked.Increment(ref _droppedQueueFull);
        }
        return false;
    }

    /// <summary>Writes what is queued and closes the file. Idempotent.</summary>
    public void Dispose()
    {
        if (!BeginClose())
        {
            return;
        }
        _writerLoop?.GetAwaiter().GetResult();
        EndClose();
    }

    /// <summary>Writes what is queued and closes the file, without blocking a thread. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!BeginClose())
        {
            return;
        }
        if (_writerLoop is not null)
        {
            await _writerLoop.ConfigureAwait(false);
        }
        EndClose();
    }

    private bool BeginClose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }
        _closed = true;
        _queue?.Writer.TryComplete();
        return true;
    }

    private void EndClose()
    {
        _device.Close();
        _device.Dispose();
        _ended = true; // the file is closed: its counters are final and no longer published
    }

    private async Task WriterLoopAsync()
    {
        ChannelReader<Record> reader = _queue!.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out Record record))
            {
                WriteRecord(record.Data.AsSpan(0, record.CaptureLength), record.PacketLength, record.UnixTicks);
                ArrayPool<byte>.Shared.Return(record.Data);
            }
        }
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A failed capture write is counted; it must not kill the writer loop or the data path.")]
    private bool WriteRecord(Span<byte> data, int packetLength, long unixTicks)
    {
        try
        {
            long seconds = unixTicks / TimeSpan.TicksPerSecond;
            long micros = unixTicks % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond;
            _header.Timeval = new PosixTimeval((ulong)seconds, (ulong)micros);
            _header.CaptureLength = (uint)data.Length;
            _header.PacketLength = (uint)packetLength;
            _device.Write(data, ref _header);
            Interlocked.Increment(ref _captured);
            return true;
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _writeErrors);
            return false;
        }
    }

    private static CaptureFileWriterDevice OpenDevice(string path, int snapshotLength)
    {
        CaptureFileWriterDevice? device = null;
        try
        {
            device = new CaptureFileWriterDevice(path, FileMode.Create);
            device.Open(new DeviceConfiguration { LinkLayerType = LinkLayers.RawLegacy, Snaplen = snapshotLength });
            return device;
        }
        catch (DllNotFoundException e)
        {
            device?.Dispose();
            throw new InvalidOperationException("Pcap capture needs the native libpcap (Debian: apt-get install libpcap0.8).", e);
        }
        catch
        {
            device?.Dispose();
            throw;
        }
    }

    private static long UnixTicks(DateTimeOffset time) => Math.Max(0, time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks);

    /// <summary>A queued capture: the first <paramref name="CaptureLength"/> bytes of a rented array.</summary>
    private readonly record struct Record(byte[] Data, int CaptureLength, int PacketLength, long UnixTicks);
}
