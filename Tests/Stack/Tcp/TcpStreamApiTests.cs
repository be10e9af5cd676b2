using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>The async API (Tcp.ConnectAsync, AcceptAsync, Stream, IDuplexPipe) over two stacks on the system clock.</summary>
public class TcpStreamApiTests
{
    private sealed class LiveWorld : IDisposable
    {
        private readonly InMemoryNetwork _network = new(new InMemoryNetworkOptions { Gso = GsoSupport.None });
        public readonly NetworkStack A;
        public readonly NetworkStack B;

        public LiveWorld() => (A, B) = (_network.AddHost().Stack, _network.AddHost().Stack);

        public void Dispose() => _network.Dispose();
    }

    [Fact]
    public async Task Stream_Round_Trip_With_Eof_And_Half_Close()
    {
        using var world = new LiveWorld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using TcpConnectionListener listener = world.B.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7000));
        Task<TcpConnection> accept = listener.AcceptAsync(cts.Token).AsTask();
        await using TcpConnection client = await world.A.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7000), cancellationToken: cts.Token);
        await using TcpConnection server = await accept;
        byte[] request = Packets.Payload(300_000, 5);
        Task write = Task.Run(async () =>
        {
            await client.WriteAsync(request, cts.Token);
            client.ShutdownSend();
        });
        var received = new MemoryStream();
        await server.CopyToAsync(received, cts.Token); // ends at the client's FIN (ReadAsync returns 0)
        await write;
        Assert.Equal(request, received.ToArray());
        Assert.Equal(TcpState.CloseWait, server.State);

        await server.WriteAsync("bye"u8.ToArray(), cts.Token); // half-close: the server may still send
        server.ShutdownSend();
        var buffer = new byte[10];
        int n = await client.ReadAsync(buffer, cts.Token);
        Assert.Equal("bye", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(0, await client.ReadAsync(buffer, cts.Token));
    }

    [Fact]
    public async Task Duplex_Pipe_Echo()
    {
        using var world = new LiveWorld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using TcpConnectionListener listener = world.B.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7001));
        Task echo = Task.Run(async () =>
        {
            await using TcpConnection s = await listener.AcceptAsync(cts.Token);
            await s.Pipe.Input.CopyToAsync(s.Pipe.Output, cts.Token);
            await s.Pipe.Output.CompleteAsync();
        });
        await using TcpConnection client = await world.A.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7001), cancellationToken: cts.Token);
        IDuplexPipe pipe = client.Pipe;
        byte[] data = Packets.Payload(100_000, 6);
        await pipe.Output.WriteAsync(data, cts.Token);
        await pipe.Output.CompleteAsync();
        var back = new MemoryStream();
        await pipe.Input.CopyToAsync(back, cts.Token);
        await echo;
        Assert.Equal(data, back.ToArray());
    }

    [Fact]
    public async Task Connect_To_Closed_Port_Is_Refused()
    {
        using var world = new LiveWorld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        // RST from B's TCP: no listener (RFC 9293 §3.10.7.1)
        var ex = await Assert.ThrowsAsync<SocketException>(() => world.A.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7002), cancellationToken: cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task Peer_Abort_Surfaces_As_ConnectionReset_On_Pending_Read()
    {
        using var world = new LiveWorld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using TcpConnectionListener listener = world.B.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7003));
        Task<TcpConnection> accept = listener.AcceptAsync(cts.Token).AsTask();
        await using TcpConnection client = await world.A.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7003), cancellationToken: cts.Token);
        TcpConnection server = await accept;
        Task<int> read = client.ReadAsync(new byte[10], cts.Token).AsTask();
        server.Abort();
        var ex = await Assert.ThrowsAsync<IOException>(() => read);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(ex.InnerException).SocketErrorCode);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Pending_Read_And_Write_Are_Cancelled_By_Their_Tokens_And_The_Connection_Goes_On()
    {
        using var world = new LiveWorld();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using TcpConnectionListener listener = world.B.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7003));
        Task<TcpConnection> accept = listener.AcceptAsync(cts.Token).AsTask();
        await using TcpConnection client = await world.A.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7003), cancellationToken: cts.Token);
        await using TcpConnection server = await accept;

        using (var cancel = new CancellationTokenSource())
        {
            ValueTask<int> read = client.ReadAsync(new byte[10], cancel.Token);
            Assert.False(read.IsCompleted);
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await read);
        }
        // The connection is still good: the next read gets data.
        await server.WriteAsync(new byte[] { 1, 2, 3 }, cts.Token);
        var buffer = new byte[10];
        Assert.Equal(3, await client.ReadAsync(buffer, cts.Token));

        // A read that waits and is woken, many times over (one reused IValueTaskSource serves every wait).
        for (int i = 0; i < 50; i++)
        {
            Task echo = server.WriteAsync(new byte[] { 9 }, cts.Token).AsTask();
            Assert.Equal(1, await client.ReadAsync(buffer, cts.Token));
            await echo;
        }

        // A write that waits for send-buffer space (the peer does not read) is cancelled too.
        using var writeCancel = new CancellationTokenSource();
        var big = new byte[4 << 20];
        Task write = server.WriteAsync(big, writeCancel.Token).AsTask();
        await Task.Delay(200);
        Assert.False(write.IsCompleted);
        writeCancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);
        client.Abort();
    }
}
