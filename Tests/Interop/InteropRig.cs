using System.Net;
using System.Security.Cryptography;
using NetStack.Cli.Serve;
using NetStack.Link.Simulation;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Tests.Interop;

/// <summary>
/// One kernel-interop set-up: a fresh namespace, a TUN device inside it owned by our stack (in this process),
/// the kernel's side addressed 10.201.0.1/24 and fd00:201::1/64, ours .2 and ::2, the serve services on the
/// stack, and optionally netem on the kernel's egress. Disposing stops the stack and removes the namespace.
/// </summary>
internal sealed class InteropRig : IAsyncDisposable
{
    public const string Device = "nstun0";
    public static readonly IPAddress KernelV4 = IPAddress.Parse("10.201.0.1");
    public static readonly IPAddress StackV4 = IPAddress.Parse("10.201.0.2");
    public static readonly IPAddress KernelV6 = IPAddress.Parse("fd00:201::1");
    public static readonly IPAddress StackV6 = IPAddress.Parse("fd00:201::2");

    private readonly string _scratch;

    private InteropRig(NetNs ns, StackHost host, string impairment)
    {
        Ns = ns;
        Host = host;
        Impairment = impairment;
        _scratch = Directory.CreateTempSubdirectory("netstack-interop-").FullName;
    }

    public NetNs Ns { get; }

    public StackHost Host { get; }

    /// <summary>How loss and reordering were applied: kernel netem, the stack-edge fallback, or none.</summary>
    public string Impairment { get; }

    public static IPAddress Kernel(bool v6) => v6 ? KernelV6 : KernelV4;

    public static IPAddress Stack(bool v6) => v6 ? StackV6 : StackV4;

    /// <summary>A literal for command lines (IPv6 without brackets: nc, iperf3 and ip take it so).</summary>
    public static string Literal(IPAddress address) => address.ToString();

    /// <summary>
    /// Starts a rig. With <paramref name="netem"/>, loss and reordering go on the kernel's egress with tc netem; a
    /// kernel built without sch_netem gets <paramref name="fallback"/> instead, applied by seeded impairment stages
    /// at the stack's edge of the TUN in both directions (the kernel's TCP still sees lost and reordered segments).
    /// <paramref name="configure"/> adjusts serve's other options (limits, timeouts).
    /// </summary>
    public static InteropRig Start(int mtu = 1500, bool offload = true, string? netem = null, ImpairmentOptions? fallback = null,
        InboundGsoMode inbound = InboundGsoMode.Deliver, Func<ServeOptions, ServeOptions>? configure = null)
    {
        var ns = new NetNs();
        try
        {
            TunDevice device = ns.OpenTun(Device, mtu, offload);
            NetNs.Ip($"-n {ns.Name} addr add {KernelV4}/24 dev {Device}");
            NetNs.Ip($"-n {ns.Name} addr add {KernelV6}/64 dev {Device} nodad");
            string impairment = "none";
            bool useFallback = false;
            if (netem is not null)
            {
                var (exit, _, error) = ns.Exec($"tc qdisc add dev {Device} root netem {netem}");
                if (exit == 0)
                {
                    impairment = "kernel netem " + netem;
                }
                else if (error.Contains("qdisc kind is unknown", StringComparison.Ordinal) && fallback is not null)
                {
                    impairment = $"this kernel has no sch_netem: stack-edge impairment both ways ({fallback.LossPercent} % loss, {fallback.ReorderPercent} % reordered by {fallback.ReorderExtraDelay.TotalMilliseconds} ms)";
                    useFallback = true;
                }
                else
                {
                    Assert.Fail("tc netem: " + error);
                }
            }
            var options = new ServeOptions
            {
                Tun = Device,
                Addresses = [NetPrefix.Parse($"{StackV4}/24"), NetPrefix.Parse($"{StackV6}/64")],
                Mtu = mtu,
                Offload = offload,
                InboundGso = inbound,
            };
            options = configure?.Invoke(options) ?? options;
            TunEndpointOptions tunOptions = StackHost.TunOptions(options, null);
            if (useFallback)
            {
                tunOptions = tunOptions with
                {
                    Inbound = sink => new ImpairmentStage(sink, fallback!, seed: 1, TimeProvider.System, "tun-in"),
                    Outbound = sink => new ImpairmentStage(sink, fallback!, seed: 2, TimeProvider.System, "tun-out"),
                };
            }
            var tun = new TunEndpoint(device, tunOptions);
            return new InteropRig(ns, StackHost.Start(tun, options), impairment);
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>A file of <paramref name="length"/> deterministic bytes in this rig's scratch folder, and its SHA-256.</summary>
    public (string Path, byte[] Sha256) MakeFile(long length, int seed = 1)
    {
        string path = System.IO.Path.Combine(_scratch, $"data-{seed}-{length}");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (FileStream file = File.Create(path))
        {
            var random = new Random(seed);
            byte[] block = new byte[1 << 20];
            for (long left = length; left > 0;)
            {
                int n = (int)Math.Min(block.Length, left);
                random.NextBytes(block.AsSpan(0, n));
                file.Write(block, 0, n);
                sha.AppendData(block, 0, n);
                left -= n;
            }
        }
        return (path, sha.GetHashAndReset());
    }

    public string ScratchPath(string name) => System.IO.Path.Combine(_scratch, name);

    public static byte[] Sha256OfFile(string path)
    {
        using FileStream file = File.OpenRead(path);
        return SHA256.HashData(file);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.DisposeAsync();
        }
        finally
        {
            Ns.Dispose();
            try
            {
                Directory.Delete(_scratch, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
