using NetStack.Checksums;
using NetStack.Link.Tun;
using NetStack.Wire;

namespace NetStack.Tests.Interop;

/// <summary>The TUN device itself against the kernel: flags read back, offloads negotiated, MTU and link state set.</summary>
[Collection(KernelInteropCollection.Name)]
public class TunDeviceTests
{
    [SkippableFact]
    public void Open_VnetHeader_OffloadsNegotiated_MtuAndUp()
    {
        InteropEnvironment.Require();
        using var ns = new NetNs();
        using TunDevice device = ns.OpenTun("nsdev0", 9000, offload: true);
        Assert.Equal("nsdev0", device.Name);
        Assert.True(device.HasVnetHeader);
        Assert.Equal(TunFlags.Tun | TunFlags.NoPacketInfo | TunFlags.VnetHeader, device.Flags & (TunFlags.Tun | TunFlags.NoPacketInfo | TunFlags.VnetHeader));
        // Kernels since 6.2 take USO; older ones stop at checksum + TSO, which is the least this suite runs on.
        Assert.Equal(TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6, device.Offloads & (TunOffloads.Checksum | TunOffloads.Tso4 | TunOffloads.Tso6));
        Assert.Equal(9000, ns.InNamespace(device.GetMtu));
        string link = NetNs.Ip($"-n {ns.Name} link show nsdev0");
        Assert.Contains("mtu 9000", link, StringComparison.Ordinal);
        Assert.Contains(",UP", link, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void FromFileDescriptor_ReadsNameAndFlagsBack()
    {
        InteropEnvironment.Require();
        using var ns = new NetNs();
        using TunDevice opened = ns.OpenTun("nsfd0", 1500, offload: false);
        using TunDevice adopted = TunDevice.FromFileDescriptor(opened.Handle.Fd, ownsHandle: false);
        Assert.Equal("nsfd0", adopted.Name);
        Assert.False(adopted.HasVnetHeader);
        Assert.Equal(TunOffloads.None, adopted.Offloads);
    }

    [SkippableFact]
    public void Closing_NonPersistentDevice_RemovesIt()
    {
        InteropEnvironment.Require();
        using var ns = new NetNs();
        TunDevice device = ns.OpenTun("nsgone0", 1500, offload: true);
        Assert.Equal(0, InteropEnvironment.Run("ip", $"-n {ns.Name} link show nsgone0").Exit);
        device.Dispose();
        Assert.NotEqual(0, InteropEnvironment.Run("ip", $"-n {ns.Name} link show nsgone0").Exit);
    }

    /// <summary>
    /// A persistent device an earlier user left with checksum offload on, then opened without a virtio header (serve
    /// --offload off): the offloads must be cleared, or the kernel hands over partial checksums that fail validation.
    /// </summary>
    [SkippableFact]
    public unsafe void Open_WithoutVnetHeader_ClearsOffloadsAnEarlierUserLeft()
    {
        InteropEnvironment.Require("nc.openbsd");
        using var ns = new NetNs();
        NetNs.Ip($"-n {ns.Name} tuntap add dev nspst0 mode tun");
        ns.InNamespace(() =>
        {
            using TunDevice earlier = TunDevice.Open("nspst0", vnetHeader: true, tso: true, uso: true);
            Assert.NotEqual(TunOffloads.None, earlier.Offloads);
            return 0;
        });
        using TunDevice device = ns.InNamespace(() => TunDevice.Open("nspst0", vnetHeader: false, tso: true, uso: true));
        Assert.Equal(TunOffloads.None, device.Offloads);
        NetNs.Ip($"-n {ns.Name} addr add 10.201.7.1/24 dev nspst0");
        NetNs.Ip($"-n {ns.Name} link set nspst0 up");
        Assert.Equal(0, ns.Shell("echo checksum | nc.openbsd -u -w1 10.201.7.2 9", TimeSpan.FromSeconds(10)).Exit);

        byte[] buffer = new byte[2048];
        byte[]? datagram = null;
        for (int attempt = 0; attempt < 50 && datagram is null; attempt++)
        {
            var fd = new PollFd { Fd = device.Handle.Fd, Events = LinuxNative.POLLIN };
            if (LinuxNative.Poll(&fd, 1, 200) <= 0)
            {
                continue;
            }
            fixed (byte* p = buffer)
            {
                nint n = LinuxNative.Read(device.Handle.Fd, p, (nuint)buffer.Length);
                if (n > 20 && buffer[0] >> 4 == 4 && buffer[9] == (byte)IpProtocol.Udp)
                {
                    datagram = buffer[..(int)n]; // the kernel's other traffic (IPv6 router solicitations) is skipped
                }
            }
        }
        Assert.True(datagram is not null, "the kernel's UDP datagram never reached the device");
        int ihl = (datagram![0] & 0xF) * 4;
        uint pseudo = InternetChecksum.PseudoHeaderSumV4(datagram.AsSpan(12, 4), datagram.AsSpan(16, 4), (byte)IpProtocol.Udp, datagram.Length - ihl);
        Assert.True(UdpHeader.VerifyChecksum(datagram.AsSpan(ihl), pseudo, NetworkProtocol.IPv4, out _),
            "a partial checksum: the device still had the earlier user's checksum offload");
    }
}
