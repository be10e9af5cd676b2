// Layer: simulated links. The switch of an InMemoryNetwork: forwards each raw-IP packet to the port that owns its
// destination address (or a route's port), floods broadcast and multicast, and counts what it cannot deliver.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Link.Simulation;

/// <summary>Why an <see cref="InMemoryNetwork"/>'s switch dropped a packet.</summary>
public enum InMemorySwitchDrop
{
    /// <summary>No host owns the destination address and no route covers it.</summary>
    NoRoute,
    /// <summary>Not an IPv4 or IPv6 packet with a whole fixed header in its head.</summary>
    Malformed,
    /// <summary>The sender or the receiver is partitioned off (<see cref="InMemoryHost.Connected"/> is false).</summary>
    Disconnected,
    /// <summary>
    /// The receiving host's chain threw on the packet (or on its flush): the packet is lost to that host, the others and
    /// the pump go on; logged at most once a minute (docs/ARCHITECTURE.md §6).
    /// </summary>
    ProcessingFault,
}

/// <summary>
/// The switch: a table of addresses (each host's own) and routes (a prefix behind a host, such as a router's
/// port), looked up per packet with a one-entry cache per sending port. Driven by the wire's pump only (one thread
/// at a time); the tables change copy-on-write from any thread. A host's port also releases the packets its own
/// inbound chain held back (delay, rate) when they fall due.
/// </summary>
internal sealed class InMemorySwitch(ReasonCounters<InMemorySwitchDrop> drops, FaultLog faults)
{
    private readonly Lock _gate = new();
    private Dictionary<NetAddress, InMemoryHost> _addresses = [];
    private (NetPrefix Prefix, InMemoryHost Via)[] _routes = [];
    private InMemoryHost[] _hosts = [];
    private int _generation;
    private readonly List<InMemoryHost> _dirty = []; // hosts that received since the last flush, in arrival order

    public ReasonCounters<InMemorySwitchDrop> Drops => drops;

    /// <summary>Adds a port and the addresses it owns.</summary>
    public void AddHost(InMemoryHost host, IEnumerable<NetAddress> addresses)
    {
        lock (_gate)
        {
            var table = new Dictionary<NetAddress, InMemoryHost>(_addresses);
            foreach (NetAddress address in addresses)
            {
                if (!table.TryAdd(address, host))
                {
                    throw new ArgumentException($"{address} belongs to {table[address].Name} already.", nameof(addresses));
                }
            }
            Volatile.Write(ref _addresses, table);
            Volatile.Write(ref _hosts, [.. _hosts, host]);
            Interlocked.Increment(ref _generation);
        }
    }

    /// <summary>True when a host owns <paramref name="address"/> already.</summary>
    public bool IsTaken(NetAddress address) => Volatile.Read(ref _addresses).ContainsKey(address);

    /// <summary>Sends packets for <paramref name="prefix"/> that no host owns to <paramref name="via"/>.</summary>
    public void AddRoute(NetPrefix prefix, InMemoryHost via)
    {
        lock (_gate)
        {
            Volatile.Write(ref _routes, [.. _routes, (prefix, via)]);
            Interlocked.Increment(ref _generation);
        }
    }

    /// <summary>The sink at the end of a host's outbound chain.</summary>
    public IPacketSink PortFor(InMemoryHost source) => new Port(this, source);

    private InMemoryHost? Lookup(NetAddress destination)
    {
        if (Volatile.Read(ref _addresses).TryGetValue(destination, out InMemoryHost? host))
        {
            return host;
        }
        InMemoryHost? best = null;
        int bestLength = -1;
        foreach ((NetPrefix prefix, InMemoryHost via) in Volatile.Read(ref _routes))
        {
            if (prefix.PrefixLength > bestLength && prefix.Contains(destination))
            {
                best = via;
                bestLength = prefix.PrefixLength;
            }
        }
        return best;
    }

    private void Deliver(InMemoryHost to, PacketBuffer packet)
    {
        if (!to.Connected)
        {
            drops.Increment(InMemorySwitchDrop.Disconnected);
            packet.Release();
            return;
        }
        if (!to.FlushPending)
        {
            to.FlushPending = true;
            _dirty.Add(to);
        }
        try
        {
            to.InboundEntry.Enqueue(packet);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e); // the packet belongs to the chain that threw: never released twice
        }
    }

    private void OnFault(Exception e)
    {
        drops.Increment(InMemorySwitchDrop.ProcessingFault);
        faults.Report(e);
    }

    /// <summary>Broadcast and multicast: a copy to every other connected host (copies, since receivers may change what they get).</summary>
    private void Flood(InMemoryHost from, PacketBuffer packet)
    {
        foreach (InMemoryHost host in Volatile.Read(ref _hosts))
        {
            if (host != from && host.Connected)
            {
                Deliver(host, PacketCopy.Clone(packet));
            }
        }
        packet.Release();
    }

    private void FlushDirty()
    {
        // A receiver's flush may deliver held packets to it but never to another host, so the list does not grow here.
        for (int i = 0; i < _dirty.Count; i++)
        {
            _dirty[i].FlushPending = false;
            try
            {
                _dirty[i].InboundEntry.Flush();
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                OnFault(e); // one host's chain: the others still get their flush
            }
        }
        _dirty.Clear();
    }

    private static bool TryGetDestination(PacketBuffer packet, out NetAddress destination)
    {
        ReadOnlySpan<byte> head = packet.Head;
        int version = head.IsEmpty ? 0 : head[0] >> 4;
        if (version == 4 && head.Length >= Ipv4Header.MinLength)
        {
            destination = NetAddress.FromV4(BinaryPrimitives.ReadUInt32BigEndian(head[Ipv4Header.DestinationOffset..]));
            return true;
        }
        if (version == 6 && head.Length >= Ipv6Header.Length)
        {
            destination = NetAddress.FromV6(BinaryPrimitives.ReadUInt128BigEndian(head[Ipv6Header.DestinationOffset..]));
            return true;
        }
        destination = default;
        return false;
    }

    /// <summary>One host's port: the last sink of its outbound chain, with a one-entry route cache.</summary>
    private sealed class Port(InMemorySwitch owner, InMemoryHost source) : IPacketSink
    {
        private NetAddress _cachedDestination;
        private InMemoryHost? _cachedHost;
        private int _cachedGeneration = -1;

        public void Enqueue(PacketBuffer packet)
        {
            if (!TryGetDestination(packet, out NetAddress destination))
            {
                owner.Drops.Increment(InMemorySwitchDrop.Malformed);
                packet.Release();
                return;
            }
            if (!source.Connected)
            {
                owner.Drops.Increment(InMemorySwitchDrop.Disconnected);
                packet.Release();
                return;
            }
            int generation = Volatile.Read(ref owner._generation);
            if (generation != _cachedGeneration || destination != _cachedDestination)
            {
                _cachedHost = owner.Lookup(destination);
                _cachedDestination = destination;
                _cachedGeneration = generation;
            }
            if (_cachedHost is { } to)
            {
                owner.Deliver(to, packet);
            }
            else if (destination.IsMulticast || destination.IsLimitedBroadcast)
            {
                owner.Flood(source, packet);
            }
            else
            {
                owner.Drops.Increment(InMemorySwitchDrop.NoRoute);
                packet.Release();
            }
        }

        public void Flush() => owner.FlushDirty();

        // Each port answers for its own host's inbound chain (delayed packets held for it): the pump visits every
        // port once a round, so every host's due packets go each round, and a round costs O(hosts), not O(hosts²).
        public TimeSpan? TimeUntilNextDue => source.InboundEntry.TimeUntilNextDue;

        public int DeliverDue() => source.InboundEntry.DeliverDue();
    }
}
