namespace NetStack.Link.Tun;

/// <summary>TUN flags of <c>struct ifreq.ifr_flags</c> (linux/if_tun.h).</summary>
[Flags]
public enum TunFlags : short
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>IFF_TUN: an L3 device (IP packets, no Ethernet header).</summary>
    Tun = 0x0001,
    /// <summary>IFF_TAP: an L2 device (not used by NetStack).</summary>
    Tap = 0x0002,
    /// <summary>IFF_NAPI.</summary>
    Napi = 0x0010,
    /// <summary>IFF_MULTI_QUEUE: one fd per queue.</summary>
    MultiQueue = 0x0100,
    /// <summary>IFF_NO_PI: no 4-byte packet-information prefix.</summary>
    NoPacketInfo = 0x1000,
    /// <summary>IFF_VNET_HDR: every packet starts with a virtio_net_hdr.</summary>
    VnetHeader = 0x4000,
    /// <summary>IFF_PERSIST (reported by TUNGETIFF: the device outlives its fds).</summary>
    Persist = 0x0800,
}

/// <summary>Offloads set with <c>TUNSETOFFLOAD</c> (what the kernel may hand us: linux/if_tun.h TUN_F_*).</summary>
[Flags]
public enum TunOffloads : uint
{
    /// <summary>No offload: the kernel segments and checksums everything it sends us.</summary>
    None = 0,
    /// <summary>TUN_F_CSUM: we take partial checksums.</summary>
    Checksum = 0x01,
    /// <summary>TUN_F_TSO4: we take TCP/IPv4 super-packets.</summary>
    Tso4 = 0x02,
    /// <summary>TUN_F_TSO6: we take TCP/IPv6 super-packets.</summary>
    Tso6 = 0x04,
    /// <summary>TUN_F_TSO_ECN.</summary>
    TsoEcn = 0x08,
    /// <summary>TUN_F_UFO (not used).</summary>
    Ufo = 0x10,
    /// <summary>TUN_F_USO4: we take UDP/IPv4 segmentation offload packets (Linux ≥ 6.2).</summary>
    Uso4 = 0x20,
    /// <summary>TUN_F_USO6.</summary>
    Uso6 = 0x40,
}

/// <summary>TUN ioctl request numbers (_IOW/_IOR('T', n, int)).</summary>
internal static class TunIoctl
{
    public const nuint TUNSETIFF = 0x400454CA;
    public const nuint TUNSETPERSIST = 0x400454CB;
    public const nuint TUNGETFEATURES = 0x800454CF;
    public const nuint TUNSETOFFLOAD = 0x400454D0;
    public const nuint TUNGETIFF = 0x800454D2;
    public const nuint TUNGETVNETHDRSZ = 0x800454D7;
    public const nuint TUNSETVNETHDRSZ = 0x400454D8;
}
