// The xunit base class: a failing body writes its exception, the network's summary and the kept capture's path to the
// test output; a test that leaves a connection or listener open fails with a report naming the host, not a hang; a
// clean test leaves no capture behind.
using System.Net;
using System.Text;
using NetStack.Simulation;
using NetStack.Simulation.Xunit;
using Xunit.Abstractions;

namespace NetStack.Tests.Simulation.Xunit;

public class VirtualNetworkTestTests
{
    /// <summary>What a test wrote to its output.</summary>
    private sealed class RecordingOutput : ITestOutputHelper
    {
        private readonly StringBuilder _text = new();

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public void WriteLine(string message)
        {
            lock (_text)
            {
                _text.AppendLine(message);
            }
        }

        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
    }

    /// <summary>A test class as a user writes one, driven here by hand as xunit would drive it.</summary>
    private sealed class UserTest(ITestOutputHelper output, VirtualNetworkOptions? options = null) : VirtualNetworkTest(output, options)
    {
        public new VirtualNetwork Network => base.Network;

        public new string CapturePath => base.CapturePath;

        public new Task RunAsync(Func<Task> scenario, TimeSpan? limit = null) => base.RunAsync(scenario, limit);
    }

    [Fact(Timeout = 60_000)]
    public async Task RunAsync_BodyFails_WritesTheErrorTheSummaryAndTheCapturePath_AndKeepsTheCapture()
    {
        var output = new RecordingOutput();
        var test = new UserTest(output, new VirtualNetworkOptions { Seed = 4, Time = NetworkTime.Virtual });
        await test.InitializeAsync();
        VirtualHost api = test.Network.AddHost("api"), app = test.Network.AddHost("app");
        VirtualListener listener = api.Listen(80);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => test.RunAsync(async () =>
        {
            await using Stream stream = await app.ConnectAsync("api", 80);
            await using Stream accepted = await listener.AcceptAsync();
            throw new InvalidOperationException("the body's assertion");
        }));
        await test.DisposeAsync();
        try
        {
            Assert.Equal("the body's assertion", e.Message);
            Assert.Contains("FAILED: InvalidOperationException: the body's assertion", output.Text, StringComparison.Ordinal);
            Assert.Contains("virtual network, seed 4", output.Text, StringComparison.Ordinal);
            Assert.Contains("app: connections 1 opened, 1 established", output.Text, StringComparison.Ordinal);
            Assert.Contains($"capture kept: {test.CapturePath}", output.Text, StringComparison.Ordinal);
            Assert.True(new FileInfo(test.CapturePath).Length > 0); // the handshake is in it
        }
        finally
        {
            File.Delete(test.CapturePath);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposeAsync_ListenerAndConnectionLeftOnTheStack_FailsWithALeakReportNamingTheHost()
    {
        var output = new RecordingOutput();
        var test = new UserTest(output, new VirtualNetworkOptions { Time = NetworkTime.Virtual });
        VirtualHost api = test.Network.AddHost("api"), app = test.Network.AddHost("app");
        var listener = api.Stack.Tcp.Listen(new IPEndPoint(api.Ipv4, 80)); // the stack's own API: nobody closes it
        await test.RunAsync(async () => await app.ConnectAsync("api", 80));
        var leak = await Assert.ThrowsAsync<VirtualNetworkLeakException>(test.DisposeAsync);
        try
        {
            Assert.Contains("api: 1 TCP connection(s) not closed, 1 TCP listener(s)", leak.Message, StringComparison.Ordinal);
            Assert.Contains($"capture kept: {test.CapturePath}", output.Text, StringComparison.Ordinal);
            Assert.True(File.Exists(test.CapturePath));
        }
        finally
        {
            File.Delete(test.CapturePath);
            GC.KeepAlive(listener);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposeAsync_CleanTest_DeletesTheCapture_AndWritesNothing()
    {
        var output = new RecordingOutput();
        var test = new UserTest(output);
        VirtualHost api = test.Network.AddHost("api"), app = test.Network.AddHost("app");
        VirtualListener listener = api.Listen(80);
        await test.RunAsync(async () =>
        {
            Stream client = await app.ConnectAsync("api", 80);
            Stream server = await listener.AcceptAsync();
            await client.WriteAsync("hi"u8.ToArray());
            Assert.Equal((byte)'h', (byte)server.ReadByte());
        });
        Assert.True(File.Exists(test.CapturePath));
        await test.DisposeAsync();
        Assert.False(File.Exists(test.CapturePath));
        Assert.Equal("", output.Text);
    }
}
