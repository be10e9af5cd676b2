// serve's receive-buffer defaults: a connection starts at Linux's tcp_rmem default and auto-tuning grows it only
// for an application that reads, so a peer pushing into a connection nobody reads pins at most the start size.
using System.Net;
using NetStack.Cli.Serve;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Stack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Cli.Serve;

public class ServeReceiveBufferTests
{
    private const int Segment = 1000;

    private static readonly ServeOptions Defaults = new() { Tun = "t0", Addresses = [NetPrefix.Parse("10.0.0.2/24")] };

    [Fact]
    public void ConnectionOptions_Defaults_StartAtTcpRmemDefaultAndAutoTune()
    {
        TcpConnectionOptions options = StackHost.ConnectionOptions(Defaults);
        Assert.Equal(128 * 1024, options.ReceiveBufferSize); // Linux: net.ipv4.tcp_rmem = 4096 131072 6291456
        Assert.True(options.BufferAutoTuning);
        Assert.True(options.MaxReceiveBufferSize >= 4 * 1024 * 1024);
    }

    [Fact]
    public void ServeDefaults_ApplicationNeverReads_AcceptsAtMostTheStartingBuffer()
    {
        using var h = new TcpTestHarness();
        (uint iss, int scale) = Open(h, out TcpConnection connection);
        long accepted = Push(h, iss, scale, 1001, 400, out _);
        Assert.InRange(accepted, 64 * 1024, 128 * 1024); // the window closed at the starting buffer, never grew
        connection.Abort();
    }

    [Fact]
    public void ServeDefaults_ApplicationReads_WindowGrowsPastTheStartingBuffer()
    {
        using var h = new TcpTestHarness();
        (uint iss, int scale) = Open(h, out TcpConnection connection);
        uint next = 1001;
        int largestWindow = 0;
        var buffer = new byte[1 << 20];
        for (int round = 0; round < 20; round++)
        {
            next += (uint)Push(h, iss, scale, next, 300, out int window);
            largestWindow = Math.Max(largestWindow, window);
            while (connection.TryRead(buffer) > 0)
            {
            }
            h.Advance(TimeSpan.FromMilliseconds(5)); // a round trip passes between the peer's flights
        }
        Assert.True(largestWindow > 128 * 1024, $"largest window {largestWindow}");
        connection.Abort();
    }

    /// <summary>Listens with serve's options and completes a handshake (window scale, no timestamps); returns our ISS and window scale.</summary>
    private static (uint Iss, int Scale) Open(TcpTestHarness h, out TcpConnection connection)
    {
        TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 8, StackHost.ConnectionOptions(Defaults));
        TcpRepr syn = TcpTestHarness.Peer(1000, 0, TcpFlags.Syn);
        syn.MaxSegmentSize = 1460;
        syn.WindowScale = 0;
        h.Inject(syn);
        Segment synAck = h.Read();
        uint iss = synAck.Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack));
        Assert.True(listener.TryAccept(out TcpConnection? accepted));
        connection = accepted!;
        return (iss, synAck.Tcp.WindowScale ?? 0);
    }

    /// <summary>Sends up to <paramref name="count"/> full segments from <paramref name="from"/>; returns the bytes acknowledged.</summary>
    private static long Push(TcpTestHarness h, uint iss, int scale, uint from, int count, out int window)
    {
        uint acked = from;
        window = 0;
        for (int i = 0; i < count; i++)
        {
            h.Inject(TcpTestHarness.Peer(from + (uint)(i * Segment), iss + 1, TcpFlags.Ack), new byte[Segment]);
        }
        h.Advance(TimeSpan.FromMilliseconds(200)); // delayed ACKs go out
        while (h.TryRead() is Segment s)
        {
            if ((int)(s.Tcp.AcknowledgmentNumber - acked) > 0)
            {
                acked = s.Tcp.AcknowledgmentNumber;
            }
            window = s.Tcp.WindowSize << scale;
        }
        return acked - from;
    }
}
