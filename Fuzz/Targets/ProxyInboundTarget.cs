// The forwarder's packet path: inbound packets on a promiscuous, spoofing NIC with a HostForwarder installed — the
// TCP forward request, the UDP catch-all and the ICMP echo hook, the address policy, and the ICMP errors rebuilt from
// a flow. The policy refuses every destination (and DNS has no resolver), so no host socket is opened: what is fuzzed
// is everything the forwarder does with a packet before a host socket would be involved.
using System.Net;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Proxy;

namespace NetStack.Fuzz.Targets;

/// <summary>A fresh stack and forwarder per input; the input is a list of packet records; nothing leaks.</summary>
public sealed class ProxyInboundTarget : IFuzzTarget
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-proxy");

    /// <inheritdoc/>
    public string Name => "ProxyInbound";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var random = new InputRandom(input, salt: 57);
        var reader = new PacketRecordReader(input);
        var link = new ChannelEndpoint(new ChannelEndpointOptions { Name = "fuzz-proxy", Mtu = 1500, OutboundQueueCapacity = 256 });
        var stack = new NetworkStack(new NetworkStackOptions { Pool = _pool });
        HostForwarder? forwarder = null;
        try
        {
            Nic nic = stack.CreateNic(link);
            nic.AddAddress(NetPrefix.Parse("10.0.2.2/24"));
            nic.AddAddress(NetPrefix.Parse("fd00::2/64"));
            forwarder = new HostForwarder(stack, new ProxyOptions
            {
                Gateways = [NetAddress.Parse("10.0.2.2"), NetAddress.Parse("fd00::2")],
                DnsAddresses = [NetAddress.Parse("10.0.2.3")],
                Resolvers = [],
                Deny = [new ProxyRule(NetPrefix.Parse("0.0.0.0/0")), new ProxyRule(NetPrefix.Parse("::/0"))],
            });
            Check.True(nic.Promiscuous && nic.Spoofing, "the forwarder takes every address");
            int packets = 0;
            while (packets++ < 64 && reader.TryRead(out PacketRecord record))
            {
                link.InjectInbound(record.Rent(_pool, ref random));
                while (link.Read() is { } sent)
                {
                    sent.Release(); // RSTs and ICMP errors the refusals made
                }
            }
            Check.Equal(0, forwarder.Metrics.UdpFlows, "no UDP flow behind a deny-all policy");
            Check.Equal(0, forwarder.Metrics.DialsInFlight, "no dial behind a deny-all policy");
        }
        finally
        {
            forwarder?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            link.Close();
            while (link.Read() is { } late)
            {
                late.Release();
            }
            stack.Dispose();
        }
        Check.NoLeaks(_pool);
    }
}
