using NetStack.Link.Tun;

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
}
