// TcpProtocol's protocol-wide choices and budgets: ephemeral ports (RFC 6056), resets to closed ports, the
// connection table's limits (TIME-WAIT, per remote address, per listener) — exact packets on a ManualClock.
using System.Net;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

public class TcpProtocolTests
{
    [Fact]
    public void Rfc6056_EphemeralPorts_OfOneDestination_StepByTheSharedDoubleHashSelector()
    {
        // Algorithm 4 (RFC 6056 §3.3.4): one 3-tuple's ports move on from a keyed offset by small, varying steps
        // (Linux's table perturbation), so they are neither sequential nor scattered over the whole range, where a
        // new connection would meet an old one's TIME-WAIT.
        using var h = new TcpTestHarness();
        var ports = new List<int>();
        var connections = new List<TcpConnection>();
        for (int i = 0; i < 20; i++)
        {
            connections.Add(h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 443)));
            Segment syn = h.Read();
            Assert.Equal(TcpFlags.Syn, syn.Flags);
            ports.Add(syn.Tcp.SourcePort);
        }
        Assert.All(ports, p => Assert.InRange(p, 49152, 65535));
        int[] steps = ports.Zip(ports.Skip(1), (a, b) => ((b - a) % 16384 + 16384) % 16384).ToArray();
        Assert.All(steps, s => Assert.InRange(s, 2, 16));
        Assert.True(steps.Distinct().Count() > 1, "the steps are perturbed, not constant");
        connections.Add(h.Tcp.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 443)));
        int other = h.Link.Read() is { } packet ? ReadSourcePort(packet) : -1;
        Assert.DoesNotContain(other, ports); // another destination starts at its own offset
        connections.ForEach(c => c.Abort());
    }

    private static int ReadSourcePort(NetStack.Buffers.PacketBuffer packet)
    {
        byte[] bytes = packet.ToArray();
        packet.Release();
        int ihl = (bytes[0] & 0xF) * 4;
        return (bytes[ihl] << 8) | bytes[ihl + 1];
    }
}
