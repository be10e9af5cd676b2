// Layer: link endpoints, Linux TUN (ARCHITECTURE.md §9). Opening a TUN device, reading its flags back, negotiating
// offloads step by step, and the interface ioctls (MTU, up). The packet loops live in TunEndpoint.
using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace NetStack.Link.Tun;

/// <summary>
/// A Linux TUN device: the file descriptor (a <see cref="System.Runtime.InteropServices.SafeHandle"/>-owned, non-blocking fd), its name and
/// flags, and the offloads negotiated with <c>TUNSETOFFLOAD</c>. Made by <see cref="Open"/> (attach to the
/// device of that name, or create it) or <see cref="FromFileDescriptor"/> (an fd someone else opened: its
/// flags are read back with <c>TUNGETIFF</c>).
/// </summary>
public sealed unsafe class TunDevice : IDisposable
{
    private const int IfReqSize = 40;
    private const int IfNameSize = 16;
    private readonly ILogger _logger;

    private TunDevice(FileDescriptorHandle handle, string name, TunFlags flags, ILogger? logger)
    {
        Handle = handle;
        Name = name;
        Flags = flags;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The descriptor.</summary>
    internal FileDescriptorHandle Handle { get; }

    /// <summary>Interface name.</summary>
    public string Name { get; }

    /// <summary>Flags the device runs with (as TUNGETIFF reports them).</summary>
    public TunFlags Flags { get; }

    /// <summary>Every packet read or written starts with a <see cref="VirtioNetHeader"/>.</summary>
    public bool HasVnetHeader => (Flags & TunFlags.VnetHeader) != 0;

    /// <summary>Offloads in force (what the kernel may send us: partial checksums, TSO and USO super-packets).</summary>
    public TunOffloads Offloads { get; private set; }

    /// <summary>
    /// Opens <c>/dev/net/tun</c> and attaches to the TUN device <paramref name="name"/> (a persistent device of
    /// that name, or a new one) with <c>IFF_TUN | IFF_NO_PI</c>, plus <c>IFF_VNET_HDR</c> when
    /// <paramref name="vnetHeader"/>; then negotiates offloads when asked (<see cref="NegotiateOffloads"/>).
    /// Throws <see cref="IOException"/> with the errno when the kernel refuses.
    /// </summary>
    public static TunDevice Open(string name, bool vnetHeader, bool tso, bool uso, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) >= IfNameSize)
        {
            throw new ArgumentException($"Interface name '{name}' is longer than {IfNameSize - 1} bytes.", nameof(name));
        }
        int fd = LinuxNative.Open("/dev/net/tun", LinuxNative.O_RDWR | LinuxNative.O_CLOEXEC | LinuxNative.O_NONBLOCK);
        if (fd < 0)
        {
            throw Error("open /dev/net/tun", LinuxNative.LastError);
        }
        var handle = new FileDescriptorHandle(fd, ownsHandle: true);
        try
        {
            TunFlags wanted = TunFlags.Tun | TunFlags.NoPacketInfo | (vnetHeader ? TunFlags.VnetHeader : TunFlags.None);
            byte* ifr = stackalloc byte[IfReqSize];
            WriteIfReq(ifr, name, (short)wanted);
            if (LinuxNative.Ioctl(fd, TunIoctl.TUNSETIFF, ifr) != 0)
            {
                throw Error($"TUNSETIFF {name}", LinuxNative.LastError);
            }
            TunDevice device = FromOpenHandle(handle, logger);
            device.NegotiateOffloads(tso, uso);
            return device;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adopts a TUN fd opened elsewhere (e.g. handed over by a privileged parent): reads name and flags with
    /// <c>TUNGETIFF</c>, makes it non-blocking and, when it has a virtio header, negotiates offloads.
    /// </summary>
    public static TunDevice FromFileDescriptor(int fd, bool ownsHandle, bool tso = true, bool uso = true, ILogger? logger = null)
    {
        var handle = new FileDescriptorHandle(fd, ownsHandle);
        TunDevice device = FromOpenHandle(handle, logger);
        device.NegotiateOffloads(tso, uso);
        return device;
    }

    /// <summary>A device over any packet fd (a SOCK_SEQPACKET socket in tests) with the flags given, no ioctl.</summary>
    internal static TunDevice ForTesting(FileDescriptorHandle handle, bool vnetHeader, TunOffloads offloads)
    {
        if (!LinuxNative.SetNonBlocking(handle.Fd, true))
        {
            throw Error("fcntl O_NONBLOCK", LinuxNative.LastError);
        }
        TunFlags flags = TunFlags.Tun | TunFlags.NoPacketInfo | (vnetHeader ? TunFlags.VnetHeader : TunFlags.None);
        return new TunDevice(handle, "test", flags, null) { Offloads = vnetHeader ? offloads : TunOffloads.None };
    }

    private static TunDevice FromOpenHandle(FileDescriptorHandle handle, ILogger? logger)
    {
        int fd = handle.Fd;
        byte* ifr = stackalloc byte[IfReqSize];
        new Span<byte>(ifr, IfReqSize).Clear();
        if (LinuxNative.Ioctl(fd, TunIoctl.TUNGETIFF, ifr) != 0)
        {
            throw Error("TUNGETIFF", LinuxNative.LastError);
        }
        var flags = (TunFlags)BinaryPrimitives.ReadInt16LittleEndian(new ReadOnlySpan<byte>(ifr + IfNameSize, 2));
        if ((flags & TunFlags.Tun) == 0 || (flags & TunFlags.NoPacketInfo) == 0)
        {
            throw new IOException($"The device is not an IFF_TUN | IFF_NO_PI device (flags 0x{(ushort)flags:x4}).");
        }
        if (!LinuxNative.SetNonBlocking(fd, true))
        {
            throw Error("fcntl O_NONBLOCK", LinuxNative.LastError);
        }
        var device = new TunDevice(handle, ReadName(ifr), flags, logger);
        if (device.HasVnetHeader)
        {
            int size = 0;
            if (LinuxNative.Ioctl(fd, TunIoctl.TUNGETVNETHDRSZ, &size) == 0 && size != VirtioNetHeader.Length)
            {
                size = VirtioNetHeader.Length;
                if (LinuxNative.Ioctl(fd, TunIoctl.TUNSETVNETHDRSZ, &size) != 0)
                {
                    throw Error("TUNSETVNETHDRSZ 10", LinuxNative.LastError);
                }
            }
        }
        return device;
    }

    /// <summary>
    /// Negotiates what the kernel may send us, step by step, logging each fallback: checksum + TSO4 + TSO6
    /// first (when <paramref name="tso"/>), then USO4 + USO6 together on top (Linux ≥ 6.2, when
    /// <paramref name="uso"/>); on refusal, checksum alone; on refusal, nothing. Returns what is in force.
    /// Always set explicitly, to none included: a persistent device keeps the offloads an earlier user set, and
    /// without a virtio header to say so the kernel would hand us partial checksums and super-packets.
    /// </summary>
    public TunOffloads NegotiateOffloads(bool tso, bool uso)
    {
        if (!HasVnetHeader)
        {
            if (!TrySetOffload(TunOffloads.None, out int error))
            {
                _logger.LogWarning("TUN {Name}: clearing offloads refused ({Error}); packets may arrive with partial checksums", Name, LinuxNative.Describe(error));
            }
            return Offloads = TunOffloads.None;
        }
        const TunOffloads tcp = TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6;
        const TunOffloads udp = TunOffloads.Uso4 | TunOffloads.Uso6;
        TunOffloads result = TunOffloads.None;
        if (tso)
        {
            if (TrySetOffload(tcp, out int errno))
            {
                result = tcp;
                if (uso)
                {
                    if (TrySetOffload(tcp | udp, out errno))
                    {
                        result = tcp | udp;
                    }
                    else
                    {
                        _logger.LogInformation("TUN {Name}: USO4/USO6 refused ({Error}); TCP offloads only", Name, LinuxNative.Describe(errno));
                        _ = TrySetOffload(tcp, out _);
                    }
                }
            }
            else
            {
                _logger.LogWarning("TUN {Name}: checksum + TSO4 + TSO6 refused ({Error}); trying checksum offload alone", Name, LinuxNative.Describe(errno));
            }
        }
        if (result == TunOffloads.None)
        {
            if (TrySetOffload(TunOffloads.Checksum, out int errno))
            {
                result = TunOffloads.Checksum;
            }
            else
            {
                _logger.LogWarning("TUN {Name}: checksum offload refused ({Error}); the kernel segments and checksums everything", Name, LinuxNative.Describe(errno));
                _ = TrySetOffload(TunOffloads.None, out _);
            }
        }
        _logger.LogInformation("TUN {Name}: offloads {Offloads}", Name, result);
        return Offloads = result;
    }

    private bool TrySetOffload(TunOffloads offloads, out int errno)
    {
        bool ok = LinuxNative.IoctlValue(Handle.Fd, TunIoctl.TUNSETOFFLOAD, (nuint)(uint)offloads) == 0;
        errno = ok ? 0 : LinuxNative.LastError;
        return ok;
    }

    /// <summary>Sets the interface MTU (SIOCSIFMTU; needs CAP_NET_ADMIN).</summary>
    public void SetMtu(int mtu)
    {
        InterfaceIoctl(LinuxNative.SIOCSIFMTU, ifr => BinaryPrimitives.WriteInt32LittleEndian(ifr[IfNameSize..], mtu), "SIOCSIFMTU");
    }

    /// <summary>The interface MTU (SIOCGIFMTU).</summary>
    public int GetMtu()
    {
        int mtu = 0;
        InterfaceIoctl(LinuxNative.SIOCGIFMTU, null, "SIOCGIFMTU", ifr => mtu = BinaryPrimitives.ReadInt32LittleEndian(ifr[IfNameSize..]));
        return mtu;
    }

    /// <summary>Brings the interface up (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP).</summary>
    public void SetUp()
    {
        short flags = 0;
        InterfaceIoctl(LinuxNative.SIOCGIFFLAGS, null, "SIOCGIFFLAGS", ifr => flags = BinaryPrimitives.ReadInt16LittleEndian(ifr[IfNameSize..]));
        if ((flags & LinuxNative.IFF_UP) == 0)
        {
            short up = (short)(flags | LinuxNative.IFF_UP);
            InterfaceIoctl(LinuxNative.SIOCSIFFLAGS, ifr => BinaryPrimitives.WriteInt16LittleEndian(ifr[IfNameSize..], up), "SIOCSIFFLAGS");
        }
    }

    private delegate void IfReqAction(Span<byte> ifr);

    private void InterfaceIoctl(nuint request, IfReqAction? fill, string what, IfReqAction? read = null)
    {
        int socket = LinuxNative.Socket(LinuxNative.AF_INET, LinuxNative.SOCK_DGRAM | LinuxNative.SOCK_CLOEXEC, 0);
        if (socket < 0)
        {
            throw Error("socket", LinuxNative.LastError);
        }
        try
        {
            byte* ifr = stackalloc byte[IfReqSize];
            WriteIfReq(ifr, Name, 0);
            var span = new Span<byte>(ifr, IfReqSize);
            fill?.Invoke(span);
            if (LinuxNative.Ioctl(socket, request, ifr) != 0)
            {
                throw Error($"{what} {Name}", LinuxNative.LastError);
            }
            read?.Invoke(span);
        }
        finally
        {
            _ = LinuxNative.Close(socket);
        }
    }

    /// <summary>Closes the descriptor (a non-persistent device disappears with its last fd).</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (flags {Flags}, offloads {Offloads})";

    private static void WriteIfReq(byte* ifr, string name, short flags)
    {
        var span = new Span<byte>(ifr, IfReqSize);
        span.Clear();
        Encoding.UTF8.GetBytes(name, span[..(IfNameSize - 1)]);
        BinaryPrimitives.WriteInt16LittleEndian(span[IfNameSize..], flags);
    }

    private static string ReadName(byte* ifr)
    {
        var span = new ReadOnlySpan<byte>(ifr, IfNameSize);
        int end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }

    internal static IOException Error(string what, int errno) => new($"{what}: {LinuxNative.Describe(errno)}", errno);
}
