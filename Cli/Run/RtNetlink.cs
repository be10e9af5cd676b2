// `netstack run`: the few rtnetlink requests the init makes inside the namespace (no `ip` binary): a link up with
// its MTU (RTM_NEWLINK), an address (RTM_NEWADDR), a default route (RTM_NEWROUTE), each acknowledged (RFC 3549,
// linux/rtnetlink.h). Requests are built in a stack buffer and sent with write(2) to the kernel.
using System.Buffers.Binary;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>An AF_NETLINK/NETLINK_ROUTE socket for configuring interfaces of the current network namespace.</summary>
internal sealed unsafe class RtNetlink : IDisposable
{
    private const int HeaderLength = 16; // struct nlmsghdr
    private const ushort NLMSG_ERROR = 2;
    private const ushort RTM_NEWLINK = 16;
    private const ushort RTM_NEWADDR = 20;
    private const ushort RTM_NEWROUTE = 24;
    private const ushort NLM_F_REQUEST = 0x1;
    private const ushort NLM_F_ACK = 0x4;
    private const ushort NLM_F_EXCL = 0x200;
    private const ushort NLM_F_CREATE = 0x400;
    private const ushort IFLA_MTU = 4;
    private const ushort IFA_ADDRESS = 1;
    private const ushort IFA_LOCAL = 2;
    private const ushort RTA_OIF = 4;
    private const ushort RTA_GATEWAY = 5;
    private const byte AF_INET = 2;
    private const byte AF_INET6 = 10;
    private const byte IFA_F_NODAD = 0x02;
    private const byte RT_TABLE_MAIN = 254;
    private const byte RTPROT_BOOT = 3;
    private const byte RTN_UNICAST = 1;
    private const uint IFF_UP = 1;

    private readonly int _fd;
    private uint _sequence;

    public RtNetlink()
    {
        _fd = LinuxNative.Socket(RunNative.AF_NETLINK, RunNative.SOCK_RAW | LinuxNative.SOCK_CLOEXEC, RunNative.NETLINK_ROUTE);
        if (_fd < 0)
        {
            throw TunDevice.Error("socket AF_NETLINK", LinuxNative.LastError);
        }
    }

    /// <summary>Brings interface <paramref name="index"/> up, setting its MTU too when <paramref name="mtu"/> is positive.</summary>
    public void SetUp(int index, int mtu, string what)
    {
        Span<byte> message = stackalloc byte[64];
        int length = Header(message, RTM_NEWLINK, 0);
        // struct ifinfomsg { u8 family, u8 pad, u16 type, s32 index, u32 flags, u32 change }
        message.Slice(length, 16).Clear();
        BinaryPrimitives.WriteInt32LittleEndian(message[(length + 4)..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(message[(length + 8)..], IFF_UP);
        BinaryPrimitives.WriteUInt32LittleEndian(message[(length + 12)..], IFF_UP);
        length += 16;
        if (mtu > 0)
        {
            Span<byte> value = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(value, (uint)mtu);
            length = Attribute(message, length, IFLA_MTU, value);
        }
        Request(message[..length], what);
    }

    /// <summary>Adds <paramref name="prefix"/> to interface <paramref name="index"/> (IPv6 without duplicate address detection: the link is ours alone).</summary>
    public void AddAddress(int index, NetPrefix prefix)
    {
        Span<byte> message = stackalloc byte[96];
        int length = Header(message, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        // struct ifaddrmsg { u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index }
        message[length] = prefix.Address.IsV4 ? AF_INET : AF_INET6;
        message[length + 1] = (byte)prefix.PrefixLength;
        message[length + 2] = prefix.Address.IsV4 ? (byte)0 : IFA_F_NODAD;
        message[length + 3] = 0; // RT_SCOPE_UNIVERSE
        BinaryPrimitives.WriteInt32LittleEndian(message[(length + 4)..], index);
        length += 8;
        Span<byte> address = stackalloc byte[16];
        int size = prefix.Address.WriteBytes(address);
        length = Attribute(message, length, IFA_LOCAL, address[..size]);
        length = Attribute(message, length, IFA_ADDRESS, address[..size]);
        Request(message[..length], $"add address {prefix}");
    }

    /// <summary>Adds the default route via <paramref name="gateway"/> on interface <paramref name="index"/>.</summary>
    public void AddDefaultRoute(int index, NetAddress gateway)
    {
        Span<byte> message = stackalloc byte[96];
        int length = Header(message, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags }
        message.Slice(length, 12).Clear();
        message[length] = gateway.IsV4 ? AF_INET : AF_INET6;
        message[length + 4] = RT_TABLE_MAIN;
        message[length + 5] = RTPROT_BOOT;
        message[length + 6] = 0; // RT_SCOPE_UNIVERSE
        message[length + 7] = RTN_UNICAST;
        length += 12;
        Span<byte> value = stackalloc byte[16];
        int size = gateway.WriteBytes(value);
        length = Attribute(message, length, RTA_GATEWAY, value[..size]);
        BinaryPrimitives.WriteInt32LittleEndian(value, index);
        length = Attribute(message, length, RTA_OIF, value[..4]);
        Request(message[..length], $"add default route via {gateway}");
    }

    private int Header(Span<byte> message, ushort type, ushort flags)
    {
        message[..HeaderLength].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(message[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(message[6..], (ushort)(flags | NLM_F_REQUEST | NLM_F_ACK));
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], ++_sequence);
        return HeaderLength;
    }

    // struct rtattr { u16 len, u16 type } + value, padded to 4 bytes (RTA_ALIGN).
    private static int Attribute(Span<byte> message, int offset, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(message[offset..], (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message[(offset + 2)..], type);
        value.CopyTo(message[(offset + 4)..]);
        int end = offset + 4 + value.Length;
        int aligned = (end + 3) & ~3;
        message[end..aligned].Clear();
        return aligned;
    }

    /// <summary>Sends the request and reads its acknowledgement; a refusal throws <see cref="IOException"/> naming <paramref name="what"/>.</summary>
    private void Request(Span<byte> message, string what)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
        fixed (byte* bytes = message)
        {
            if (LinuxNative.Write(_fd, bytes, (nuint)message.Length) != message.Length)
            {
                throw TunDevice.Error($"netlink {what}", LinuxNative.LastError);
            }
        }
        Span<byte> reply = stackalloc byte[1024];
        while (true)
        {
            nint received;
            fixed (byte* bytes = reply)
            {
                received = LinuxNative.Read(_fd, bytes, (nuint)reply.Length);
            }
            if (received < 0)
            {
                if (LinuxNative.LastError == LinuxNative.EINTR)
                {
                    continue;
                }
                throw TunDevice.Error($"netlink {what}", LinuxNative.LastError);
            }
            for (int offset = 0; offset + HeaderLength <= received;)
            {
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(reply[offset..]);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(reply[(offset + 4)..]);
                uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(reply[(offset + 8)..]);
                if (length < HeaderLength || offset + length > received)
                {
                    throw new IOException($"netlink {what}: a malformed reply");
                }
                if (type == NLMSG_ERROR && sequence == _sequence && length >= HeaderLength + 4)
                {
                    int error = -BinaryPrimitives.ReadInt32LittleEndian(reply[(offset + HeaderLength)..]);
                    if (error != 0)
                    {
                        throw TunDevice.Error($"netlink {what}", error);
                    }
                    return;
                }
                offset += (length + 3) & ~3;
            }
        }
    }

    public void Dispose() => LinuxNative.Close(_fd);
}
