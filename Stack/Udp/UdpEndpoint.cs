using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Udp;

/// <summary>The result of a UDP receive.</summary>
/// <param name="ReceivedBytes">Bytes copied into the caller's buffer.</param>
/// <param name="RemoteEndPoint">Who sent the datagram.</param>
/// <param name="Truncated">The datagram was longer than the buffer; the rest was discarded (MSG_TRUNC).</param>
public readonly record struct UdpReceiveFromResult(int ReceivedBytes, IPEndPoint RemoteEndPoint, bool Truncated);

/// <summary>The result of a UDP receive that reports where the datagram was going (as IP_PKTINFO).</summary>
/// <param name="ReceivedBytes">Bytes copied into the caller's buffer.</param>
/// <param name="RemoteEndPoint">Who sent the datagram.</param>
/// <param name="LocalAddress">The datagram's destination address: on a wildcard binding over a promiscuous NIC, any address.</param>
/// <param name="Truncated">The datagram was longer than the buffer; the rest was discarded (MSG_TRUNC).</param>
public readonly record struct UdpReceiveMessageFromResult(int ReceivedBytes, IPEndPoint RemoteEndPoint, IPAddress LocalAddress, bool Truncated);

/// <summary>
/// A UDP endpoint on a <see cref="NetworkStack"/>, shaped like a datagram socket: bind (an address or any;
/// port 0 for an ephemeral one), connect, <see cref="SendToAsync"/>, <see cref="ReceiveFromAsync"/>. Its
/// receive queue is bounded in datagrams (<see cref="NetworkStackOptions.UdpReceiveQueueCapacity"/>) and in the
/// memory they pin (<see cref="NetworkStackOptions.UdpReceiveBufferBytes"/>); datagrams past either are dropped
/// and counted. A connected endpoint reports ICMP errors on its next operation (ECONNREFUSED).
/// One copy in each direction: the app's bytes into a packet, the packet's payload into the app's buffer.
/// </summary>
public sealed class UdpEndpoint : IDisposable
{
    private readonly UdpProtocol _udp;
    private readonly Channel<Datagram> _queue;
    private UdpKey? _key;
    private IcmpError? _pendingError;
    private bool _disposed;
    private long _received;
    private long _dropped;
    private long _sent;
    private long _queuedBytes; // truesize of the queued datagrams

    private readonly record struct Datagram(PacketBuffer? Packet, int Offset, int Length, NetAddress Source, ushort SourcePort, NetAddress Destination, int Charge);

    internal UdpEndpoint(UdpProtocol udp)
    {
        _udp = udp;
        _queue = Channel.CreateBounded<Datagram>(new BoundedChannelOptions(udp.Stack.Options.UdpReceiveQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: counted drop
            SingleReader = false,
            SingleWriter = false,
        });
    }

    /// <summary>The bound local end point, or null before bind.</summary>
    public IPEndPoint? LocalEndPoint => _key is UdpKey k ? new IPEndPoint(k.LocalAddress.IsNone ? IPAddress.IPv6Any : k.LocalAddress.ToIPAddress(), k.LocalPort) : null;

    /// <summary>The connected remote end point, or null.</summary>
    public IPEndPoint? RemoteEndPoint => _key is UdpKey { RemotePort: not 0 } k ? new IPEndPoint(k.RemoteAddress.ToIPAddress(), k.RemotePort) : null;

    /// <summary>Datagrams queued for the application.</summary>
    public int Available => _queue.Reader.Count;

    /// <summary>Datagrams received into the queue.</summary>
    public long DatagramsReceived => Interlocked.Read(ref _received);

    /// <summary>Datagrams dropped because the queue was full.</summary>
    public long DatagramsDropped => Interlocked.Read(ref _dropped);

    /// <summary>Datagrams sent.</summary>
    public long DatagramsSent => Interlocked.Read(ref _sent);

    /// <summary>
    /// Never fragment outbound datagrams (IPv4 DF, RFC 791; IPv6 IPV6_DONTFRAG, RFC 3542 §11.2): a datagram
    /// larger than the path MTU fails with <see cref="SocketError.MessageSize"/>, like <see cref="Socket.DontFragment"/>.
    /// </summary>
    public bool DontFragment { get; set; }

    /// <summary>Binds to <paramref name="local"/> (<see cref="IPAddress.Any"/>/<see cref="IPAddress.IPv6Any"/> for every address; port 0 for an ephemeral port).</summary>
    public void Bind(IPEndPoint local)
    {
        ArgumentNullException.ThrowIfNull(local);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_key is not null)
        {
            throw new InvalidOperationException("The endpoint is already bound.");
        }
        NetAddress address = IsAny(local.Address) ? default : NetAddress.FromIPAddress(local.Address);
        if (!address.IsNone && !_udp.Stack.IsLocalAddress(address) && !_udp.Stack.Nics.Any(n => n.Spoofing))
        {
            throw new SocketException((int)SocketError.AddressNotAvailable);
        }
        _key = _udp.Register(this, new UdpKey(address, (ushort)local.Port, default, 0), null);
    }

    /// <summary>Sets the default destination and accepts datagrams only from it. Binds to an ephemeral port first if needed.</summary>
    public void Connect(IPEndPoint remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var address = NetAddress.FromIPAddress(remote.Address);
        UdpKey current = _key ?? new UdpKey(default, 0, default, 0);
        _key = _udp.Register(this, current with { RemoteAddress = address, RemotePort = (ushort)remote.Port }, _key);
    }

    /// <summary>
    /// Sends one datagram to <paramref name="remote"/> (or the connected peer). Throws <see cref="SocketException"/>
    /// for no route (NetworkUnreachable), a datagram that cannot be sent (MessageSize), or a pending ICMP error.
    /// A full link queue drops the datagram, as UDP may, and counts it.
    /// </summary>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint? remote = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(SendTo(data.Span, remote));
    }

    /// <summary>Synchronous form of <see cref="SendToAsync"/>.</summary>
    public int SendTo(ReadOnlySpan<byte> data, IPEndPoint? remote = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowPendingError();
        NetAddress destination;
        ushort port;
        if (remote is not null)
        {
            destination = NetAddress.FromIPAddress(remote.Address);
            port = (ushort)remote.Port;
        }
        else if (_key is UdpKey { RemotePort: not 0 } k)
        {
            destination = k.RemoteAddress;
            port = k.RemotePort;
        }
        else
        {
            throw new SocketException((int)SocketError.NotConnected);
        }
        if (_key is null)
        {
            _key = _udp.Register(this, new UdpKey(default, 0, default, 0), null);
        }
        SocketError error = _udp.Send(_key.Value.LocalAddress, _key.Value.LocalPort, destination, port, data, DontFragment, out bool sent);
        if (error != SocketError.Success)
        {
            throw new SocketException((int)error);
        }
        if (sent)
        {
            Interlocked.Increment(ref _sent);
        }
        return data.Length;
    }

    /// <summary>
    /// Waits for a datagram and copies it into <paramref name="buffer"/>. A connected endpoint throws
    /// <see cref="SocketException"/> (ConnectionRefused, …) once for an ICMP error received since the last call.
    /// </summary>
    public async ValueTask<UdpReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            await WaitForDatagramAsync(cancellationToken).ConfigureAwait(false);
            if (TryReceive(buffer.Span, out var result))
            {
                return result;
            }
        }
    }

    /// <summary>
    /// As <see cref="ReceiveFromAsync"/>, also reporting the datagram's destination address (IP_PKTINFO): what a
    /// wildcard endpoint on a promiscuous NIC needs to answer from the address the peer addressed.
    /// </summary>
    public async ValueTask<UdpReceiveMessageFromResult> ReceiveMessageFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            await WaitForDatagramAsync(cancellationToken).ConfigureAwait(false);
            if (TryTake(buffer.Span, out int n, out Datagram d))
            {
                return new UdpReceiveMessageFromResult(n, new IPEndPoint(d.Source.ToIPAddress(), d.SourcePort), d.Destination.ToIPAddress(), n < d.Length);
            }
        }
    }

    /// <summary>Takes a queued datagram without waiting (for drivers and tests). Allocates only the result's end point.</summary>
    public bool TryReceive(Span<byte> buffer, out UdpReceiveFromResult result)
    {
        if (TryTake(buffer, out int n, out Datagram d))
        {
            result = new UdpReceiveFromResult(n, new IPEndPoint(d.Source.ToIPAddress(), d.SourcePort), n < d.Length);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Throws a pending error, else waits until the queue holds something (a datagram or a wake-up).</summary>
    private async ValueTask WaitForDatagramAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowPendingError();
        if (_queue.Reader.Count == 0 && !await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new ObjectDisposedException(nameof(UdpEndpoint));
        }
    }

    /// <summary>Copies the next queued datagram into <paramref name="buffer"/> and releases it; skips error wake-ups.</summary>
    private bool TryTake(Span<byte> buffer, out int copied, out Datagram datagram)
    {
        while (_queue.Reader.TryRead(out datagram))
        {
            if (datagram.Packet is null)
            {
                continue; // a wake-up for a pending error
            }
            copied = Math.Min(buffer.Length, datagram.Length);
            datagram.Packet.CopyTo(datagram.Offset, buffer[..copied]);
            datagram.Packet.Release();
            Interlocked.Add(ref _queuedBytes, -datagram.Charge);
            return true;
        }
        copied = 0;
        return false;
    }

    /// <summary>Unbinds and drops queued datagrams.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_key is UdpKey k)
        {
            _udp.Unregister(k, this);
        }
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out Datagram d))
        {
            d.Packet?.Release();
        }
    }

    /// <summary>Queues a datagram (a reference on its packet); returns why it was dropped, or null.</summary>
    internal UdpDropReason? Enqueue(PacketBuffer packet, int offset, int length, NetAddress source, ushort sourcePort, NetAddress destination)
    {
        int charge = packet.TrueSize;
        // As Linux: refused when what is queued already exceeds the limit, so one datagram always fits.
        if (Interlocked.Read(ref _queuedBytes) > _udp.Stack.Options.UdpReceiveBufferBytes)
        {
            Interlocked.Increment(ref _dropped);
            return UdpDropReason.ReceiveBufferFull;
        }
        packet.AddRef();
        Interlocked.Add(ref _queuedBytes, charge);
        if (_queue.Writer.TryWrite(new Datagram(packet, offset, length, source, sourcePort, destination, charge)))
        {
            Interlocked.Increment(ref _received);
            return null;
        }
        Interlocked.Add(ref _queuedBytes, -charge);
        packet.Release();
        Interlocked.Increment(ref _dropped);
        return UdpDropReason.ReceiveQueueFull;
    }

    internal void ReportError(in IcmpError error)
    {
        if (_key is not UdpKey { RemotePort: not 0 })
        {
            return;
        }
        _pendingError = error;
        _queue.Writer.TryWrite(default); // wake a waiting receive
    }

    private void ThrowPendingError()
    {
        if (_pendingError is IcmpError e)
        {
            _pendingError = null;
            throw new SocketException((int)(e.Kind switch
            {
                IcmpErrorKind.PortUnreachable or IcmpErrorKind.ProtocolUnreachable => SocketError.ConnectionRefused,
                IcmpErrorKind.HostUnreachable => SocketError.HostUnreachable,
                IcmpErrorKind.NetUnreachable => SocketError.NetworkUnreachable,
                IcmpErrorKind.PacketTooBig => SocketError.MessageSize,
                _ => SocketError.HostUnreachable,
            }));
        }
    }

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}
