// The address policy as a table: what the sandbox may reach, where the host socket goes, and why a refusal.
using System.Net;
using NetStack.Network;
using NetStack.Proxy;

namespace NetStack.Tests.Proxy;

public sealed class AddressPolicyTests
{
    private static readonly NetAddress Gateway = NetAddress.Parse("10.0.2.2");
    private static readonly NetAddress Dns = NetAddress.Parse("10.0.2.3");

    private static AddressPolicy Policy(ProxyOptions? options = null) =>
        new((options ?? new ProxyOptions()) with { Gateways = [Gateway, NetAddress.Parse("fd00::2")], DnsAddresses = [Dns] },
            [new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53)]);

    [Theory]
    [InlineData("127.0.0.1", ProxyRefusal.Loopback)]
    [InlineData("127.255.0.9", ProxyRefusal.Loopback)]
    [InlineData("::1", ProxyRefusal.Loopback)]
    [InlineData("0.0.0.0", ProxyRefusal.Unspecified)]
    [InlineData("0.1.2.3", ProxyRefusal.Unspecified)]
    [InlineData("::", ProxyRefusal.Unspecified)]
    [InlineData("169.254.169.254", ProxyRefusal.LinkLocal)]
    [InlineData("fe80::1", ProxyRefusal.LinkLocal)]
    [InlineData("febf::1", ProxyRefusal.LinkLocal)]
    [InlineData("224.0.0.1", ProxyRefusal.Multicast)]
    [InlineData("255.255.255.255", ProxyRefusal.Multicast)]
    [InlineData("ff02::1", ProxyRefusal.Multicast)]
    [InlineData("::ffff:127.0.0.1", ProxyRefusal.Ipv4Mapped)]
    [InlineData("10.0.2.2", ProxyRefusal.HostLoopback)]
    [InlineData("fd00::2", ProxyRefusal.HostLoopback)]
    public void Decide_DefaultPolicy_RefusesWithTheReason(string address, ProxyRefusal reason)
    {
        ProxyDecision decision = Policy().Decide(NetAddress.Parse(address), 80);
        Assert.False(decision.Allowed);
        Assert.Equal(reason, decision.Refusal);
    }

    [Theory]
    [InlineData("93.184.216.34")]
    [InlineData("2001:db8::1")]
    [InlineData("fec0::1")]
    [InlineData("10.0.2.200")]
    public void Decide_OrdinaryUnicast_GoesToItself(string address)
    {
        ProxyDecision decision = Policy().Decide(NetAddress.Parse(address), 443);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), 443), decision.Target);
    }

    [Fact]
    public void Decide_GatewayWithHostLoopbackAllowed_GoesToTheHostsLoopback()
    {
        AddressPolicy policy = Policy(new ProxyOptions { AllowHostLoopback = true });
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8080), policy.Decide(Gateway, 8080).Target);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 8080), policy.Decide(NetAddress.Parse("fd00::2"), 8080).Target);
    }

    [Fact]
    public void Decide_DnsAddress_Port53GoesToTheResolverOtherPortsNowhere()
    {
        ProxyDecision dns = Policy().Decide(Dns, 53);
        Assert.True(dns.IsDns);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53), dns.Target);
        Assert.Equal(ProxyRefusal.Unreachable, Policy().Decide(Dns, 80).Refusal);
    }

    [Fact]
    public void Decide_AllowRule_OpensARefusedClassOnlyOnItsPort()
    {
        AddressPolicy policy = Policy(new ProxyOptions { Allow = [new ProxyRule(NetPrefix.Parse("169.254.0.0/16"), 80)] });
        Assert.True(policy.Decide(NetAddress.Parse("169.254.1.1"), 80).Allowed);
        Assert.Equal(ProxyRefusal.LinkLocal, policy.Decide(NetAddress.Parse("169.254.1.1"), 81).Refusal);
    }

    [Fact]
    public void Decide_DenyRule_WinsOverAllowAndOverTheGateway()
    {
        AddressPolicy policy = Policy(new ProxyOptions
        {
            AllowHostLoopback = true,
            Allow = [new ProxyRule(NetPrefix.Parse("198.51.100.0/24"))],
            Deny = [new ProxyRule(NetPrefix.Parse("198.51.100.7/32")), new ProxyRule(NetPrefix.Parse("10.0.2.2/32"), 22)],
        });
        Assert.Equal(ProxyRefusal.Denied, policy.Decide(NetAddress.Parse("198.51.100.7"), 80).Refusal);
        Assert.True(policy.Decide(NetAddress.Parse("198.51.100.8"), 80).Allowed);
        Assert.Equal(ProxyRefusal.Denied, policy.Decide(Gateway, 22).Refusal);
        Assert.True(policy.Decide(Gateway, 80).Allowed);
    }
}
