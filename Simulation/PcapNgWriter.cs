// A managed pcapng writer (no libpcap, so captures work on Windows and macOS test machines too): one interface per
// link, named in its description, raw-IP packets with their direction, nanosecond timestamps from the network's clock.
using System.Buffers.Binary;
using System.Text;
using NetStack.Buffers;

namespace NetStack.Simulation;

/// <summary>
/// Writes a pcapng file (draft-ietf-opsawg-pcapng): a section header, an interface description block per link
/// (<c>LINKTYPE_RAW</c>, <c>if_name</c>, <c>if_description</c>, nanosecond <c>if_tsresol</c>) and an enhanced packet
/// block per packet with <c>epb_flags</c> giving its direction. Thread-safe; each block reaches the file whole.
/// </summary>
public sealed class PcapNgWriter : IDisposable
{
    /// <summary>LINKTYPE_RAW: each packet starts with its IPv4 or IPv6 header.</summary>
    public const ushort LinkTypeRaw = 101;

    private const uint SectionHeaderType = 0x0A0D0D0A;
    private const uint InterfaceDescriptionType = 1;
    private const uint EnhancedPacketType = 6;
    private const uint ByteOrderMagic = 0x1A2B3C4D;

    private readonly Lock _gate = new();
    private readonly Stream _stream;
    private readonly TimeProvider _clock;
    private byte[] _block = new byte[2048];
    private int _interfaces;
    private long _packets;
    private bool _disposed;

    /// <summary>Creates (or truncates) <paramref name="path"/> and writes the section header.</summary>
    /// <param name="path">The file.</param>
    /// <param name="clock">Where packet timestamps come from (the network's clock).</param>
    /// <param name="application">Written as <c>shb_userappl</c>.</param>
    public PcapNgWriter(string path, TimeProvider clock, string application = "NetStack.Simulation")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(clock);
        Path = System.IO.Path.GetFullPath(path);
        _clock = clock;
        _stream = new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        var w = new BlockBuilder(this, SectionHeaderType);
        w.UInt32(ByteOrderMagic);
        w.UInt16(1); // major
        w.UInt16(0); // minor
        w.UInt64(ulong.MaxValue); // section length not given
        w.Option(4, application); // shb_userappl
        w.EndOptions();
        w.Finish();
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>Packets written.</summary>
    public long Packets => Interlocked.Read(ref _packets);

    /// <summary>Adds an interface (a link); returns its id for <see cref="Write"/>.</summary>
    public int AddInterface(string name, string description)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var w = new BlockBuilder(this, InterfaceDescriptionType);
            w.UInt16(LinkTypeRaw);
            w.UInt16(0);
            w.UInt32(0); // snaplen: no limit
            w.Option(2, name); // if_name
            w.Option(3, description); // if_description
            w.Option(9, [9]); // if_tsresol: 10^-9 s
            w.EndOptions();
            w.Finish();
            return _interfaces++;
        }
    }

    /// <summary>Writes one packet seen on <paramref name="interfaceId"/>, borrowing it (the caller keeps its reference).</summary>
    /// <param name="interfaceId">From <see cref="AddInterface"/>.</param>
    /// <param name="packet">A raw IP packet.</param>
    /// <param name="inbound">True for a packet the link received, false for one it sent (<c>epb_flags</c> bits 0–1).</param>
    public void Write(int interfaceId, PacketBuffer packet, bool inbound)
    {
        ArgumentNullException.ThrowIfNull(packet);
        long ns = (long)((_clock.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100);
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            int length = packet.Length;
            var w = new BlockBuilder(this, EnhancedPacketType);
            w.UInt32((uint)interfaceId);
            w.UInt32((uint)(ns >> 32));
            w.UInt32((uint)ns);
            w.UInt32((uint)length);
            w.UInt32((uint)length);
            packet.CopyTo(w.Reserve(length));
            w.Pad();
            Span<byte> flags = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(flags, inbound ? 1u : 2u);
            w.Option(2, flags); // epb_flags: direction
            w.EndOptions();
            w.Finish();
            _packets++;
        }
    }

    /// <summary>Writes what is buffered to the file.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _stream.Flush();
            }
        }
    }

    /// <summary>Flushes and closes the file; later writes are ignored.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _stream.Dispose();
        }
    }

    /// <summary>Builds one block in the writer's buffer (little-endian, as the byte-order magic says), then writes it.</summary>
    private struct BlockBuilder
    {
        private readonly PcapNgWriter _writer;
        private int _at;

        public BlockBuilder(PcapNgWriter writer, uint type)
        {
            _writer = writer;
            _at = 8; // type and length go in front when the block is finished
            BinaryPrimitives.WriteUInt32LittleEndian(writer._block, type);
        }

        public Span<byte> Reserve(int count)
        {
            if (_at + count + 64 > _writer._block.Length)
            {
                Array.Resize(ref _writer._block, Math.Max(_writer._block.Length * 2, _at + count + 64));
            }
            Span<byte> span = _writer._block.AsSpan(_at, count);
            _at += count;
            return span;
        }

        public void UInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value);

        public void UInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);

        public void UInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);

        public void Pad() => Reserve((4 - (_at & 3)) & 3).Clear();

        public void Option(ushort code, string value)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            Option(code, bytes);
        }

        public void Option(ushort code, ReadOnlySpan<byte> value)
        {
            UInt16(code);
            UInt16((ushort)value.Length);
            value.CopyTo(Reserve(value.Length));
            Pad();
        }

        public void EndOptions() => UInt32(0); // opt_endofopt

        public void Finish()
        {
            int total = _at + 4;
            UInt32((uint)total);
            BinaryPrimitives.WriteUInt32LittleEndian(_writer._block.AsSpan(4), (uint)total);
            _writer._stream.Write(_writer._block, 0, total);
        }
    }
}
