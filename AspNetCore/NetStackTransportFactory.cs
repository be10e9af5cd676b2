// Layer: ASP.NET Core integration. The Kestrel transport: binds end points on a NetStack stack to TCP listeners
// (Kestrel's socket transport and in-memory test transport are the models; ARCHITECTURE.md §9).
using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.AspNetCore;

/// <summary>
/// An <see cref="IConnectionListenerFactory"/> for Kestrel over a <see cref="NetworkStack"/>. It binds every
/// <see cref="NetStackEndPoint"/>, and plain <see cref="IPEndPoint"/>s when <see cref="NetStackTransportOptions.Stack"/>
/// is set; other end points (Unix sockets, file handles) go to the next registered transport
/// (<see cref="IConnectionListenerFactorySelector"/>). Register it with
/// <see cref="NetStackWebHostBuilderExtensions.UseNetStack(Microsoft.AspNetCore.Hosting.IWebHostBuilder, NetworkStack, Action{NetStackTransportOptions}?)"/>.
/// </summary>
public sealed class NetStackTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly NetStackTransportOptions _options;
    private readonly MemoryPool<byte> _memoryPool;

    /// <summary>Made by dependency injection: options from <c>IOptions</c>, the memory pool from Kestrel's factory when there is one.</summary>
    public NetStackTransportFactory(IOptions<NetStackTransportOptions> options, IMemoryPoolFactory<byte>? memoryPoolFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _options.Validate();
        _memoryPool = memoryPoolFactory?.Create(new MemoryPoolOptions { Owner = "NetStack" }) ?? MemoryPool<byte>.Shared;
    }

    /// <summary>A factory with explicit options (tests, hosts without dependency injection).</summary>
    public NetStackTransportFactory(NetStackTransportOptions options)
        : this(Options.Create(options ?? throw new ArgumentNullException(nameof(options))))
    {
    }

    /// <inheritdoc/>
    public bool CanBind(EndPoint endpoint) => endpoint is NetStackEndPoint || (endpoint is IPEndPoint && _options.Stack is not null);

    /// <inheritdoc/>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        cancellationToken.ThrowIfCancellationRequested();
        (NetworkStack stack, IPEndPoint ip) = endpoint switch
        {
            NetStackEndPoint ns => (ns.Stack, ns.IPEndPoint),
            IPEndPoint plain when _options.Stack is { } s => (s, plain),
            _ => throw new NotSupportedException($"The NetStack transport cannot bind {endpoint}."),
        };
        TcpConnectionListener listener = Listen(stack.Tcp, ip);
        var bound = new IPEndPoint(ip.Address, listener.LocalEndPoint.Port);
        EndPoint reported = endpoint is NetStackEndPoint ? new NetStackEndPoint(stack, bound) : bound;
        return ValueTask.FromResult<IConnectionListener>(new NetStackConnectionListener(listener, reported, _options, _memoryPool));
    }

    /// <summary>Listens on <paramref name="ip"/>; port 0 takes a free port from the stack's ephemeral range (as a socket bind does).</summary>
    private TcpConnectionListener Listen(TcpProtocol tcp, IPEndPoint ip)
    {
        if (ip.Port != 0)
        {
            return tcp.Listen(ip, _options.Backlog, _options.ConnectionOptions);
        }
        NetworkStackOptions stackOptions = tcp.Stack.Options;
        int min = stackOptions.EphemeralPortMin, span = stackOptions.EphemeralPortMax - min + 1;
        int start = Random.Shared.Next(span);
        for (int i = 0; i < span; i++)
        {
            try
            {
                return tcp.Listen(new IPEndPoint(ip.Address, min + ((start + i) % span)), _options.Backlog, _options.ConnectionOptions);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // taken: try the next one
            }
        }
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }
}
