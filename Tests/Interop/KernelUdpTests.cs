using System.Net;
using System.Net.Sockets;
using NetStack.Link.Tun;

namespace NetStack.Tests.Interop;

/// <summary>UDP between the kernel and our echo (RFC 862) through the TUN, with USO and UDP GRO on write in the path.</summary>
[Collection(KernelInteropCollection.Name)]
public class KernelUdpTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task KernelSocket_ThroughOurUdpEcho_EveryDatagramIntact(bool v6, bool offload)
    {
        InteropEnvironment.Require();
        await using var rig = InteropRig.Start(1500, offload);
        // A socket made on a thread inside the namespace belongs to it: the kernel's UDP there is the peer.
        using Socket socket = rig.Ns.InNamespace(() => new Socket(v6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        // Root may pass net.core.rmem_max (SO_RCVBUFFORCE): one USO packet from us is ~50 datagrams whose kernel
        // skbs are charged at their truesize, and a capped buffer under load dropped a whole burst (RcvbufErrors).
        try
        {
            socket.SetRawSocketOption(SolSocket, SoRcvBufForce, BitConverter.GetBytes(4 << 20));
        }
        catch (SocketException)
        {
            socket.ReceiveBufferSize = 4 << 20;
        }
        var target = new IPEndPoint(InteropRig.Stack(v6), 7);
        const int Count = 400, Size = 1200;
        var sent = new Dictionary<int, byte[]>();
        var received = new Dictionary<int, byte[]>();
        byte[] buffer = new byte[65536];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int burst = 0; burst < Count / 50; burst++)
        {
            for (int i = burst * 50; i < (burst + 1) * 50; i++)
            {
                byte[] datagram = new byte[Size];
                new Random(i).NextBytes(datagram);
                BitConverter.TryWriteBytes(datagram, i);
                sent[i] = datagram;
                await socket.SendToAsync(datagram, target, timeout.Token);
            }
            // Read back what this burst brought (a burst of echoes is what UDP GRO on write coalesces).
            while (received.Count < (burst + 1) * 50)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
                wait.CancelAfter(TimeSpan.FromSeconds(2));
                try
                {
                    SocketReceiveFromResult r = await socket.ReceiveFromAsync(buffer, new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, 0), wait.Token);
                    received[BitConverter.ToInt32(buffer)] = buffer[..r.ReceivedBytes];
                }
                catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
                {
                    break; // UDP: a lost datagram ends the wait for this burst
                }
            }
        }
        output.WriteLine($"{received.Count}/{Count} echoed; receive buffer {socket.ReceiveBufferSize} B; kernel {UdpErrors(rig, v6)}; {rig.Host.Tun.DescribeCounters()}");
        Assert.All(received, kv => Assert.Equal(sent[kv.Key], kv.Value));
        Assert.True(received.Count >= Count * 95 / 100, $"only {received.Count} of {Count} datagrams came back");
        Assert.Equal(0, rig.Host.Tun.Drops[TunDropReason.WriteRejected]);
    }

    private const int SolSocket = 1;      // SOL_SOCKET
    private const int SoRcvBufForce = 33; // SO_RCVBUFFORCE

    /// <summary>The namespace's UDP error counters (RcvbufErrors: datagrams the socket had no room for).</summary>
    private static string UdpErrors(InteropRig rig, bool v6)
    {
        (int exit, string text, _) = rig.Ns.Exec(v6 ? "cat /proc/net/snmp6" : "cat /proc/net/snmp");
        if (exit != 0)
        {
            return "counters unavailable";
        }
        string[] lines = text.Split('\n');
        if (v6)
        {
            return string.Join(", ", lines.Where(l => l.StartsWith("Udp6InErrors", StringComparison.Ordinal) || l.StartsWith("Udp6RcvbufErrors", StringComparison.Ordinal)).Select(l => string.Join('=', l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))));
        }
        string[] udp = lines.Where(l => l.StartsWith("Udp: ", StringComparison.Ordinal)).ToArray();
        if (udp.Length < 2)
        {
            return "counters unavailable";
        }
        string[] names = udp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] values = udp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(", ", names.Zip(values).Where(p => p.First is "InErrors" or "RcvbufErrors").Select(p => $"{p.First}={p.Second}"));
    }
}
