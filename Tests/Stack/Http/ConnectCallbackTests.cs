using System.Net;
using System.Net.Sockets;
using NetStack.Cli.Demo;
using NetStack.Http;
using NetStack.Tcp;
using NetStack.Tests.AspNetCore;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Http;

/// <summary>
/// What SocketsHttpHandler needs from the stream its ConnectCallback returns (ARCHITECTURE.md §9), checked on TcpConnection:
/// a zero-byte read waits for data, one read and one write at once, Dispose completes a pending read, a reset is
/// IOException(SocketException(ConnectionReset)); and the callback's own errors (names, refusal, cancellation).
/// </summary>
public class ConnectCallbackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task<(DemoNetwork Network, TcpConnectionListener Listener, TcpConnection Client, TcpConnection Server)> PairAsync(int port)
    {
        var network = new DemoNetwork(new DemoNetworkOptions());
        TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, port));
        Task<TcpConnection> accept = listener.AcceptAsync().AsTask();
        TcpConnection client = await network.ClientTcp.ConnectAsync(new IPEndPoint(DemoNetwork.ServerAddress, port));
        return (network, listener, client, await accept.WaitAsync(Patience));
    }

    [Fact]
    public async Task Zero_Byte_Read_Waits_For_Data_Then_Leaves_It_Readable()
    {
        var (network, listener, client, server) = await PairAsync(9001);
        await using (network)
        using (listener)
        {
            ValueTask<int> wait = client.ReadAsync(Memory<byte>.Empty);
            Assert.False(wait.IsCompleted); // nothing sent yet: the pool's idle-connection check parks here
            await server.WriteAsync("data"u8.ToArray());
            Assert.Equal(0, await wait.AsTask().WaitAsync(Patience));
            var buffer = new byte[8];
            Assert.Equal(4, client.TryRead(buffer)); // the zero-byte read consumed nothing
            Assert.Equal("data"u8.ToArray(), buffer[..4]);
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task One_Read_And_One_Write_At_Once_Full_Duplex()
    {
        var (network, listener, client, server) = await PairAsync(9002);
        await using (network)
        using (listener)
        {
            byte[] up = Packets.Payload(2 << 20, 1), down = Packets.Payload(2 << 20, 2);
            async Task<byte[]> Exchange(TcpConnection c, byte[] send)
            {
                Task write = Task.Run(async () =>
                {
                    await c.WriteAsync(send);
                    c.ShutdownSend();
                });
                var got = new MemoryStream();
                await c.CopyToAsync(got); // reads while the write above runs on the same stream
                await write;
                return got.ToArray();
            }
            byte[][] results = await Task.WhenAll(Exchange(client, up), Exchange(server, down)).WaitAsync(Patience);
            Assert.Equal(down, results[0]);
            Assert.Equal(up, results[1]);
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Dispose_Completes_A_Pending_Read()
    {
        var (network, listener, client, server) = await PairAsync(9003);
        await using (network)
        using (listener)
        {
            Task<int> read = client.ReadAsync(new byte[16]).AsTask();
            await client.DisposeAsync();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => read.WaitAsync(Patience));
            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// After ShutdownSend (FIN-WAIT-2, no state change left to wake it), Dispose still completes a pending read
    /// with ObjectDisposedException, as NetworkStream does (HttpClient's connection pool relies on it).
    /// </summary>
    [Fact]
    public async Task Dispose_Completes_A_Pending_Read_After_ShutdownSend()
    {
        var (network, listener, client, server) = await PairAsync(9004);
        await using (network)
        using (listener)
        {
            client.ShutdownSend();
            await KestrelOverStackTests.WaitUntil(() => client.State == TcpState.FinWait2); // our FIN acknowledged: no state change is left to wake the read
            Task<int> read = client.ReadAsync(new byte[16]).AsTask();
            await client.DisposeAsync();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => read.WaitAsync(TimeSpan.FromSeconds(5)));
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Reset_Is_IOException_Wrapping_ConnectionReset_On_Read_And_Write()
    {
        var (network, listener, client, server) = await PairAsync(9005);
        await using (network)
        using (listener)
        {
            Task<int> read = client.ReadAsync(new byte[16]).AsTask();
            server.Abort();
            var onRead = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(Patience));
            Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(onRead.InnerException).SocketErrorCode);
            var onWrite = await Assert.ThrowsAsync<IOException>(() => client.WriteAsync(new byte[100]).AsTask());
            Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(onWrite.InnerException).SocketErrorCode);
            await client.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Host_Names_Need_A_Resolver()
    {
        await using var network = new DemoNetwork(new DemoNetworkOptions());
        using TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        Task serve = Task.Run(async () =>
        {
            await using TcpConnection s = await listener.AcceptAsync();
            var buffer = new byte[4096];
            int n = 0;
            while (!System.Text.Encoding.ASCII.GetString(buffer, 0, n).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                n += await s.ReadAsync(buffer.AsMemory(n));
            }
            await s.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray());
            s.ShutdownSend();
            while (await s.ReadAsync(buffer) > 0)
            {
            }
        });
        using (var plain = new HttpClient(NetStackHttp.CreateHandler(network.Client)))
        {
            var e = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetStringAsync("http://server.test/"));
            Assert.Equal(SocketError.HostNotFound, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
        }
        string? asked = null;
        var options = new NetStackConnectOptions
        {
            ResolveHost = (host, _) =>
            {
                asked = host;
                return ValueTask.FromResult(new[] { IPAddress.Parse("10.0.0.9"), DemoNetwork.ServerAddress }); // the first refuses... or has no host
            },
            Connection = new TcpConnectionOptions { ConnectTimeout = TimeSpan.FromSeconds(2) },
        };
        using var resolved = new HttpClient(NetStackHttp.CreateHandler(network.Client, options));
        Assert.Equal("ok", await resolved.GetStringAsync("http://server.test/").WaitAsync(Patience));
        Assert.Equal("server.test", asked);
        await serve.WaitAsync(Patience);
    }

    [Fact]
    public async Task Callback_Connections_Have_Nagle_Off_Unless_Asked_Like_SocketsHttpHandlers_Own()
    {
        await using var network = new DemoNetwork(new DemoNetworkOptions());
        using TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, 8083));
        foreach (bool noDelay in new[] { true, false })
        {
            var inner = NetStackHttp.ConnectCallback(network.Client, new NetStackConnectOptions { NoDelay = noDelay });
            TcpConnection? opened = null;
            using var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (context, token) => opened = Assert.IsType<TcpConnection>(await inner(context, token)),
            };
            using var client = new HttpClient(handler);
            Task request = client.GetAsync("http://10.0.0.2:8083/");
            (await listener.AcceptAsync().AsTask().WaitAsync(Patience)).Abort(); // no server: the request fails, the connection was made
            await Assert.ThrowsAsync<HttpRequestException>(() => request.WaitAsync(Patience));
            Assert.Equal(noDelay, opened!.NoDelay);
        }
    }

    [Fact]
    public async Task Refused_Port_Is_HttpRequestException_With_ConnectionRefused()
    {
        await using var network = new DemoNetwork(new DemoNetworkOptions());
        _ = network.ServerTcp; // TCP attached, nobody listening on 81: RST
        using var client = new HttpClient(NetStackHttp.CreateHandler(network.Client));
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync("http://10.0.0.2:81/"));
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task Connect_Is_Cancelled_When_The_Request_Is()
    {
        // Every packet lost: the SYN never gets an answer, so only cancellation ends the connect.
        await using var network = new DemoNetwork(new DemoNetworkOptions { LossPercent = 100 });
        using var client = new HttpClient(NetStackHttp.CreateHandler(network.Client));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetStringAsync("http://10.0.0.2/", cts.Token));
        await KestrelOverStackTests.WaitUntil(() => network.ClientTcp.ConnectionCount == 0); // the half-open connection is gone
    }
}
