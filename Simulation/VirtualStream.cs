// The harness's sockets: a TCP stream whose waits run on the network (deterministic in virtual time), a listener
// that hands out such streams, and a UDP socket addressed by host name.
using System.Net;
using NetStack.Tcp;
using NetStack.Udp;

namespace NetStack.Simulation;

/// <summary>
/// A TCP connection as a <see cref="Stream"/> whose reads and writes wait through the network
/// (<see cref="VirtualNetwork.WaitUntil"/>) rather than the thread pool: in virtual time every step happens on the
/// driver, in a reproducible order. Reads return 0 at the peer's FIN; a reset is an <see cref="IOException"/>.
/// </summary>
public sealed class VirtualStream : Stream
{
    private readonly VirtualNetwork _network;

    internal VirtualStream(VirtualNetwork network, TcpConnection connection)
    {
        _network = network;
        Connection = connection;
    }

    /// <summary>The stack's connection underneath (its statistics, endpoints, <see cref="TcpConnection.Abort"/>).</summary>
    public TcpConnection Connection { get; }

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanWrite => true;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        int n = Connection.TryRead(buffer.Span);
        if (n >= 0)
        {
            return n;
        }
        await _network.WaitUntil(() => (n = Connection.TryRead(buffer.Span)) >= 0, cancellationToken).ConfigureAwait(false);
        return n;
    }

    /// <inheritdoc/>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int n = Connection.TryWrite(buffer.Span);
            if (n == 0)
            {
                await _network.WaitUntil(() => (n = Connection.TryWrite(buffer.Span)) > 0, cancellationToken).ConfigureAwait(false);
            }
            buffer = buffer[n..];
        }
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use ReadAsync: a blocking read would stop the driver.");

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use WriteAsync: a blocking write would stop the driver.");

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Sends FIN after the queued data (the read side stays open).</summary>
    public void ShutdownSend() => Connection.ShutdownSend();

    /// <summary>Closes gracefully (FIN after queued data).</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Connection.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A TCP listener on a <see cref="VirtualHost"/>: accepted connections are streams (deterministic <see cref="VirtualStream"/>s in virtual time).</summary>
public sealed class VirtualListener : IDisposable
{
    private readonly VirtualNetwork _network;
    private readonly VirtualHost _host;

    internal VirtualListener(VirtualHost host, TcpConnectionListener listener)
    {
        _network = host.Network;
        _host = host;
        Listener = listener;
    }

    /// <summary>The stack's listener underneath.</summary>
    public TcpConnectionListener Listener { get; }

    /// <summary>The port it listens on.</summary>
    public int Port => Listener.LocalEndPoint.Port;

    /// <summary>Waits for the next connection. The network disposes what it returns.</summary>
    public async Task<Stream> AcceptAsync(CancellationToken cancellationToken = default)
    {
        TcpConnection? connection = null;
        if (!_network.IsVirtualTime)
        {
            connection = await Listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            return _host.Track(connection);
        }
        if (!Listener.TryAccept(out connection))
        {
            await _network.WaitUntil(() => Listener.TryAccept(out connection), cancellationToken).ConfigureAwait(false);
        }
        _host.Track(connection!);
        return new VirtualStream(_network, connection!);
    }

    /// <summary>Stops listening (connections already accepted stay open).</summary>
    public void Dispose() => Listener.Dispose();
}

/// <summary>A UDP socket on a <see cref="VirtualHost"/> that sends to host names (the network's DNS).</summary>
public sealed class VirtualUdpSocket : IDisposable
{
    private readonly VirtualNetwork _network;

    internal VirtualUdpSocket(VirtualNetwork network, UdpEndpoint endpoint)
    {
        _network = network;
        Endpoint = endpoint;
    }

    /// <summary>The stack's endpoint underneath.</summary>
    public UdpEndpoint Endpoint { get; }

    /// <summary>The local port.</summary>
    public int Port => Endpoint.LocalEndPoint!.Port;

    /// <summary>Sends one datagram to <paramref name="host"/>:<paramref name="port"/> (its IPv4 address); returns the bytes sent.</summary>
    public int SendTo(ReadOnlySpan<byte> data, string host, int port) =>
        Endpoint.SendTo(data, new IPEndPoint(_network.Resolve(host)[0], port));

    /// <summary>Waits for the next datagram (through the network's waits: deterministic in virtual time).</summary>
    public async Task<UdpReceiveFromResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_network.IsVirtualTime)
        {
            return await Endpoint.ReceiveFromAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        if (Endpoint.TryReceive(buffer.Span, out UdpReceiveFromResult result))
        {
            return result;
        }
        await _network.WaitUntil(() => Endpoint.TryReceive(buffer.Span, out result), cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => Endpoint.Dispose();
}
