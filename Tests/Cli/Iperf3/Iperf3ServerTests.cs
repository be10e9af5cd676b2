// The iperf3 service's limits: a test longer than the server's maximum, unbounded, or with more parallel streams than
// it serves is refused at parameter exchange with iperf3's SERVER_ERROR relay, so one client cannot hold the service.
using System.Buffers.Binary;
using System.Net;
using System.Text.Json.Nodes;
using NetStack.Cli.Demo;
using NetStack.Cli.Iperf3;
using NetStack.Tcp;

namespace NetStack.Tests.Cli.Iperf3;

public sealed class Iperf3ServerTests : IAsyncLifetime
{
    private DemoNetwork _network = null!;
    private Iperf3Server _server = null!;

    public Task InitializeAsync()
    {
        _network = new DemoNetwork(new DemoNetworkOptions());
        _server = new Iperf3Server { MaxDuration = TimeSpan.FromSeconds(30), MaxStreams = 4 };
        _server.Start(_network.Server.Tcp, Iperf3Server.DefaultPort);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _network.DisposeAsync();
    }

    /// <summary>Plays an iperf3 client up to the parameter exchange; returns the server's answer (<paramref name="length"/> bytes, or fewer at EOF).</summary>
    private async Task<byte[]> ExchangeParametersAsync(JsonObject parameters, int length = 9)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using TcpConnection control = await _network.Client.Tcp.ConnectAsync(
            new IPEndPoint(DemoNetwork.ServerAddress, Iperf3Server.DefaultPort), cancellationToken: timeout.Token);
        await control.WriteAsync(Iperf3Protocol.NewCookie(), timeout.Token);
        Assert.Equal(Iperf3State.ParamExchange, await Iperf3Protocol.ReadStateAsync(control, timeout.Token));
        await Iperf3Protocol.WriteJsonAsync(control, parameters, timeout.Token);
        byte[] answer = new byte[length];
        int n = 0, read;
        while (n < answer.Length && (read = await control.ReadAsync(answer.AsMemory(n), timeout.Token)) > 0)
        {
            n += read;
        }
        return answer[..n];
    }

    private static JsonObject Parameters(int time, int parallel, int omit = 0) => new()
    {
        ["tcp"] = true,
        ["time"] = time,
        ["omit"] = omit,
        ["parallel"] = parallel,
        ["len"] = 131072,
    };

    [Theory]
    [InlineData(3600, 0)] // the hour one client could hold the service for
    [InlineData(0, 0)] // unbounded (-t 0, and what -n / -k send)
    [InlineData(25, 10)] // within the limit only without the omitted seconds
    public async Task Duration_BeyondTheMaximum_RefusedWithServerError5(int time, int omit)
    {
        byte[] answer = await ExchangeParametersAsync(Parameters(time, 1, omit));

        Assert.Equal(9, answer.Length);
        Assert.Equal(Iperf3State.ServerError, (Iperf3State)(sbyte)answer[0]);
        Assert.Equal((int)Iperf3Error.DurationTooLong, BinaryPrimitives.ReadInt32BigEndian(answer.AsSpan(1)));
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(answer.AsSpan(5)));
        Assert.Equal(1, _server.TestsRefused);
    }

    [Fact]
    public async Task ParallelStreams_BeyondTheMaximum_RefusedWithServerError6()
    {
        byte[] answer = await ExchangeParametersAsync(Parameters(5, 5));

        Assert.Equal(9, answer.Length);
        Assert.Equal(Iperf3State.ServerError, (Iperf3State)(sbyte)answer[0]);
        Assert.Equal((int)Iperf3Error.TooManyStreams, BinaryPrimitives.ReadInt32BigEndian(answer.AsSpan(1)));
        Assert.Equal(1, _server.TestsRefused);
    }

    [Fact]
    public async Task WithinTheLimits_TheTestGoesOnToCreateStreams()
    {
        byte[] answer = await ExchangeParametersAsync(Parameters(5, 4), length: 1);

        Assert.Equal((byte)Iperf3State.CreateStreams, answer[0]);
        Assert.Equal(0, _server.TestsRefused);
    }
}
