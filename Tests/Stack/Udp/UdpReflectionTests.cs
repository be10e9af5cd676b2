// Tests of the reflection check that echo-like UDP services use before answering (issue 14, item 10).
using System.Net;
using NetStack.Tests.Stack.Network;
using NetStack.Udp;

namespace NetStack.Tests.Stack.Udp;

public class UdpReflectionTests
{
    [Theory]
    [InlineData("10.0.0.2", 7)]      // echo
    [InlineData("10.0.0.2", 13)]     // daytime
    [InlineData("10.0.0.2", 19)]     // chargen
    [InlineData("10.0.0.2", 37)]     // time
    [InlineData("10.0.0.2", 0)]
    [InlineData("10.0.0.2", 1023)]   // any privileged port
    [InlineData("fd00::2", 19)]
    [InlineData("::ffff:10.0.0.2", 7)]
    [InlineData("0.0.0.0", 40000)]
    [InlineData("0.1.2.3", 40000)]
    [InlineData("255.255.255.255", 40000)]
    [InlineData("224.0.0.1", 40000)]
    [InlineData("ff02::1", 40000)]
    [InlineData("::", 40000)]
    public void IsUnsafeSource_EchoLikePortsAndNonHostAddresses_AreUnsafe(string address, int port) =>
        Assert.True(UdpReflection.IsUnsafeSource(new IPEndPoint(IPAddress.Parse(address), port)));

    [Theory]
    [InlineData("10.0.0.2", 1024)]
    [InlineData("10.0.0.2", 40000)]
    [InlineData("fd00::2", 55555)]
    [InlineData("::ffff:10.0.0.2", 40000)]
    public void IsUnsafeSource_OrdinaryClient_IsSafe(string address, int port)
    {
        using var h = new StackHarness();
        var source = new IPEndPoint(IPAddress.Parse(address), port);
        Assert.False(UdpReflection.IsUnsafeSource(source));
        Assert.False(UdpReflection.IsUnsafeSource(source, h.Stack));
    }

    [Theory]
    [InlineData("10.0.0.1")]          // our address: a forged source would make the service answer itself
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("fd00::1")]
    [InlineData("10.0.0.255")]        // the directed broadcast of our prefix
    public void IsUnsafeSource_OurOwnAddress_IsUnsafeGivenTheStack(string address)
    {
        using var h = new StackHarness();
        var source = new IPEndPoint(IPAddress.Parse(address), 40000);
        Assert.True(UdpReflection.IsUnsafeSource(source, h.Stack));
    }
}
