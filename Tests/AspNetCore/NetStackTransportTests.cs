using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using NetStack.AspNetCore;
using NetStack.Cli.Demo;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Tests.AspNetCore;

/// <summary>
/// The Kestrel transport's contract without Kestrel (ARCHITECTURE.md §9): binding and selection, accept until unbound,
/// peer FIN and RST on Transport.Input, FIN when Transport.Output completes, RST on Abort, ConnectionClosed.
/// </summary>
public class NetStackTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private sealed class Bound : IAsyncDisposable
    {
        public required DemoNetwork Network { get; init; }
        public required IConnectionListener Listener { get; init; }
        public IPEndPoint Server => new(DemoNetwork.ServerAddress, ((IPEndPoint)Listener.EndPoint).Port);

        public static async Task<Bound> StartAsync(int port = 8080, NetStackTransportOptions? options = null)
        {
            var network = new DemoNetwork(new DemoNetworkOptions());
            options ??= new NetStackTransportOptions();
            options.Stack = network.Server;
            var factory = new NetStackTransportFactory(options);
            IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.Any, port));
            return new Bound { Network = network, Listener = listener };
        }

        /// <summary>Connects from the client stack and accepts on the server: (client TCP, server context).</summary>
        public async Task<(TcpConnection Client, ConnectionContext Server)> ConnectAsync()
        {
            ValueTask<ConnectionContext?> accept = Listener.AcceptAsync();
            TcpConnection client = await Network.ClientTcp.ConnectAsync(Server);
            ConnectionContext? server = await accept.AsTask().WaitAsync(Patience);
            Assert.NotNull(server);
            return (client, server);
        }

        public async ValueTask DisposeAsync()
        {
            await Listener.DisposeAsync();
            await Network.DisposeAsync();
        }
    }

    [Fact]
    public void Selector_Claims_Its_End_Points_Only()
    {
        using var stack = new NetworkStack();
        var unclaimed = new NetStackTransportFactory(new NetStackTransportOptions());
        var claimed = new NetStackTransportFactory(new NetStackTransportOptions { Stack = stack });
        var ip = new IPEndPoint(IPAddress.Any, 80);
        Assert.True(unclaimed.CanBind(new NetStackEndPoint(stack, ip)));
        Assert.False(unclaimed.CanBind(ip));
        Assert.True(claimed.CanBind(ip));
        Assert.False(claimed.CanBind(new UnixDomainSocketEndPoint("/tmp/x.sock")));
        Assert.False(claimed.CanBind(new DnsEndPoint("example.org", 80)));
    }

    [Fact]
    public async Task Accepted_Connections_Have_Nagle_Off_Unless_Asked_Like_Kestrels_Socket_Transport()
    {
        // With Nagle on, Kestrel's body write waited for the client's delayed ACK: ~40 ms per request.
        await using (Bound b = await Bound.StartAsync(port: 8081))
        {
            (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
            Assert.True(server.Features.Get<INetStackConnectionFeature>()!.Connection.NoDelay);
            client.Abort();
            await server.DisposeAsync();
        }
        await using (Bound b = await Bound.StartAsync(port: 8082, new NetStackTransportOptions { NoDelay = false }))
        {
            (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
            Assert.False(server.Features.Get<INetStackConnectionFeature>()!.Connection.NoDelay);
            client.Abort();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Port_Zero_Binds_An_Ephemeral_Port_And_Accepts()
    {
        await using Bound b = await Bound.StartAsync(port: 0);
        int port = ((IPEndPoint)b.Listener.EndPoint).Port;
        Assert.InRange(port, b.Network.Server.Options.EphemeralPortMin, b.Network.Server.Options.EphemeralPortMax);
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        Assert.Equal(client.RemoteEndPoint, server.LocalEndPoint);
        await server.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Accept_Returns_Null_Once_Unbound()
    {
        await using Bound b = await Bound.StartAsync();
        ValueTask<ConnectionContext?> pending = b.Listener.AcceptAsync();
        await b.Listener.UnbindAsync();
        Assert.Null(await pending.AsTask().WaitAsync(Patience));
        Assert.Null(await b.Listener.AcceptAsync());
        // Unbound means no listener: a new connect is refused (RST, RFC 9293 §3.10.7.1).
        var e = await Assert.ThrowsAsync<SocketException>(() => b.Network.ClientTcp.ConnectAsync(b.Server));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    [Fact]
    public async Task Peer_Fin_Completes_Input_After_The_Data_And_Fires_ConnectionClosed()
    {
        await using Bound b = await Bound.StartAsync();
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        await client.WriteAsync("abc"u8.ToArray());
        client.ShutdownSend();
        var received = new MemoryStream();
        while (true)
        {
            ReadResult r = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (ReadOnlyMemory<byte> s in r.Buffer)
            {
                received.Write(s.Span);
            }
            server.Transport.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                break;
            }
        }
        Assert.Equal("abc", Encoding.ASCII.GetString(received.ToArray()));
        await WaitFor(server.ConnectionClosed);
        // The server may still answer (half-close), then completing its output sends FIN.
        await server.Transport.Output.WriteAsync("xyz"u8.ToArray());
        await server.Transport.Output.CompleteAsync();
        Assert.Equal("xyz", await ReadToEndAsync(client));
        await server.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Peer_Reset_Completes_Input_With_ConnectionResetException()
    {
        await using Bound b = await Bound.StartAsync();
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        ValueTask<ReadResult> read = server.Transport.Input.ReadAsync();
        client.Abort();
        await Assert.ThrowsAsync<ConnectionResetException>(() => read.AsTask().WaitAsync(Patience));
        await WaitFor(server.ConnectionClosed);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Completing_Output_Sends_Fin_After_The_Data()
    {
        await using Bound b = await Bound.StartAsync();
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        byte[] data = Support.Packets.Payload(300_000, 9);
        await server.Transport.Output.WriteAsync(data);
        await server.Transport.Output.CompleteAsync();
        var got = new MemoryStream();
        await client.CopyToAsync(got).WaitAsync(Patience); // ends at FIN
        Assert.Equal(data, got.ToArray());
        Assert.Equal(TcpState.CloseWait, client.State);
        await client.DisposeAsync();
        await server.DisposeAsync();
        Assert.Equal(SocketError.Success, client.Error);
    }

    [Fact]
    public async Task Abort_Sends_Rst_And_Reads_See_The_Abort_Reason()
    {
        await using Bound b = await Bound.StartAsync();
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        Task<int> clientRead = client.ReadAsync(new byte[16]).AsTask();
        server.Abort(new ConnectionAbortedException("test abort"));
        var e = await Assert.ThrowsAsync<IOException>(() => clientRead.WaitAsync(Patience));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
        var local = await Assert.ThrowsAsync<ConnectionAbortedException>(() => server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal("test abort", local.Message);
        await server.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Dispose_With_An_Idle_Peer_Closes_With_Fin()
    {
        await using Bound b = await Bound.StartAsync();
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        await server.DisposeAsync().AsTask().WaitAsync(Patience); // must not wait for the peer to send or close
        Assert.Equal(0, await client.ReadAsync(new byte[1]).AsTask().WaitAsync(Patience));
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Dispose_WhileThePeersWindowStaysShut_EndsAfterTheDrainTimeout()
    {
        var options = new NetStackTransportOptions
        {
            SendDrainTimeout = TimeSpan.FromMilliseconds(500),
            ConnectionOptions = new TcpConnectionOptions { BufferAutoTuning = false, SendBufferSize = 64 * 1024 },
        };
        await using Bound b = await Bound.StartAsync(options: options);
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        // The client never reads: its 256 KiB window and the server's 64 KiB send buffer take a part of this, the
        // send loop waits with the rest (under the output pipe's 1 MiB pause threshold, so the write completes).
        await server.Transport.Output.WriteAsync(Support.Packets.Payload(900 * 1024, 11));
        await KestrelOverStackTests.WaitUntil(() => client.GetStatistics().ReceiveQueued >= 200 * 1024);
        await server.DisposeAsync().AsTask().WaitAsync(Patience); // must not wait for the window to open
        client.Abort();
    }

    [Fact]
    public async Task Slow_Reader_Pauses_The_Receive_Loop_And_Nothing_Is_Lost()
    {
        // 64 KiB read-buffer limit: the transport stops taking from TCP, the window closes, the writer waits.
        await using Bound b = await Bound.StartAsync(options: new NetStackTransportOptions { MaxReadBufferSize = 64 * 1024, ReceiveSegmentSize = 16 * 1024 });
        (TcpConnection client, ConnectionContext server) = await b.ConnectAsync();
        byte[] data = Support.Packets.Payload(4 << 20, 10);
        Task write = Task.Run(async () =>
        {
            await client.WriteAsync(data);
            client.ShutdownSend();
        });
        await KestrelOverStackTests.WaitUntil(() => client.GetStatistics().SendQueued > 0 && !write.IsCompleted);
        var got = new MemoryStream();
        while (true)
        {
            ReadResult r = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.True(r.Buffer.Length <= (64 * 1024) + (16 * 1024), $"buffered {r.Buffer.Length}");
            foreach (ReadOnlyMemory<byte> s in r.Buffer)
            {
                got.Write(s.Span);
            }
            server.Transport.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
            {
                break;
            }
            await Task.Yield();
        }
        await write.WaitAsync(Patience);
        Assert.Equal(data, got.ToArray());
        await server.DisposeAsync();
        await client.DisposeAsync();
    }

    private static async Task<string> ReadToEndAsync(Stream s)
    {
        var ms = new MemoryStream();
        await s.CopyToAsync(ms).WaitAsync(Patience);
        return Encoding.ASCII.GetString(ms.ToArray());
    }

    private static Task WaitFor(CancellationToken token)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => tcs.TrySetResult());
        return tcs.Task.WaitAsync(Patience);
    }
}
