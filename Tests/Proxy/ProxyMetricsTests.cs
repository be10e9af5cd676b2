// The forwarder's instruments per instance: two forwarders on two stacks in one process report two series (tagged
// with each stack's name), each with its own counts, as a MeterListener sees them.
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using NetStack.Proxy;
using NetStack.Udp;

namespace NetStack.Tests.Proxy;

public sealed class ProxyMetricsTests
{
    [Fact]
    public async Task Instruments_TwoForwarders_OneSeriesEachWithItsOwnCounts()
    {
        await using var a = ProxyWorld.Create(new ProxyOptions { RefuseWithReset = true, AllowHostLoopback = true });
        await using var b = ProxyWorld.Create(new ProxyOptions { RefuseWithReset = true });
        await RefusedAsync(a);
        await RefusedAsync(b);
        await RefusedAsync(b);
        using var host = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        host.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using (UdpEndpoint sandbox = a.Sandbox.Stack.Udp.CreateEndpoint())
        {
            sandbox.Bind(new IPEndPoint(IPAddress.Any, 0));
            await sandbox.SendToAsync(new byte[100], new IPEndPoint(a.Gateway.Ipv4, ((IPEndPoint)host.LocalEndPoint!).Port));
            byte[] received = new byte[200];
            Assert.Equal(100, (await host.ReceiveFromAsync(received, new IPEndPoint(IPAddress.Any, 0)).WaitAsync(TimeSpan.FromSeconds(10))).ReceivedBytes);
        }

        Dictionary<string, long> seen = Collect();
        string sa = a.Gateway.Stack.Name, sb = b.Gateway.Stack.Name;
        Assert.NotEqual(sa, sb);
        Assert.Equal(1, seen[$"netstack.proxy.refusals|{sa}|reason=LinkLocal"]);
        Assert.Equal(2, seen[$"netstack.proxy.refusals|{sb}|reason=LinkLocal"]);
        Assert.Equal(1, seen[$"netstack.tcp.forwarder.events|{sa}|reason=Requests"]);
        Assert.Equal(2, seen[$"netstack.tcp.forwarder.events|{sb}|reason=Requests"]);
        Assert.Equal(1, seen[$"netstack.proxy.events|{sa}|reason=UdpFlowCreated"]);
        Assert.Equal(0, seen[$"netstack.proxy.events|{sb}|reason=UdpFlowCreated"]);
        Assert.Equal(100, seen[$"netstack.proxy.io|{sa}|network.io.direction=transmit"]);
        Assert.Equal(0, seen[$"netstack.proxy.io|{sb}|network.io.direction=transmit"]);
        Assert.Equal(1, seen[$"netstack.proxy.udp.flows|{sa}|"]);
        Assert.Equal(0, seen[$"netstack.proxy.udp.flows|{sb}|"]);
        Assert.Equal(0, seen[$"netstack.proxy.connections|{sa}|"]);
        Assert.Equal(0, seen[$"netstack.proxy.dials|{sb}|"]);
    }

    [Fact]
    public void Instruments_Units_FollowOpenTelemetry()
    {
        var units = new Dictionary<string, string?>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == "NetStack.Proxy" || instrument.Name == "netstack.tcp.forwarder.events")
                {
                    lock (units)
                    {
                        units[instrument.Name] = instrument.Unit;
                    }
                }
            },
        };
        listener.Start();
        Assert.Equal("By", units["netstack.proxy.io"]);
        Assert.Equal("{connection}", units["netstack.proxy.connections"]);
        Assert.Equal("{dial}", units["netstack.proxy.dials"]);
        Assert.Equal("{flow}", units["netstack.proxy.udp.flows"]);
        Assert.Equal("{event}", units["netstack.proxy.events"]);
        Assert.Equal("{flow}", units["netstack.proxy.refusals"]);
        Assert.Equal("{event}", units["netstack.tcp.forwarder.events"]);
    }

    /// <summary>A connection to a link-local address, refused by the policy with RST.</summary>
    private static async Task RefusedAsync(ProxyWorld world)
    {
        var error = await Assert.ThrowsAsync<SocketException>(() => world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("169.254.169.254"), 80)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    /// <summary>Every measurement of the forwarder's instruments, keyed "instrument|stack|other tags".</summary>
    private static Dictionary<string, long> Collect()
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "NetStack.Proxy" || instrument.Name == "netstack.tcp.forwarder.events")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string stack = "", rest = "";
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "stack")
                {
                    stack = (string)tag.Value!;
                }
                else
                {
                    rest = $"{tag.Key}={tag.Value}";
                }
            }
            lock (seen)
            {
                string key = $"{instrument.Name}|{stack}|{rest}";
                Assert.False(seen.ContainsKey(key), $"one series per stack: {key} twice"); // untagged instruments would merge here
                seen[key] = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }
}
