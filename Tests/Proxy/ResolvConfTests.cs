// resolv.conf parsing for the DNS forwarder: nameservers in order, everything else skipped.
using System.Net;
using NetStack.Proxy;

namespace NetStack.Tests.Proxy;

public sealed class ResolvConfTests
{
    [Fact]
    public void Parse_MixedLines_TakesNameserversInOrderAndSkipsTheRest()
    {
        var resolvers = ResolvConf.Parse("# comment\nsearch example.org\nnameserver 127.0.0.53\nnameserver  2001:db8::53 \nnameserver bogus\noptions edns0\n");
        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.53"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53)], resolvers);
    }
}
