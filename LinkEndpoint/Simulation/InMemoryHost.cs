// Layer: simulated links. One host's port on an InMemoryNetwork: its stack, NIC, link and addresses, and the
// sink chains its packets take to and from the switch (decorators, capture, an impairment slot per direction).
using System.Net;
using NetStack.Buffers;
using NetStack.Link.Capture;
using NetStack.Link.Channels;
using NetStack.Network;

namespace NetStack.Link.Simulation;

/// <summary>
/// A stack's port on an <see cref="InMemoryNetwork"/>. What the stack sends leaves its <see cref="Link"/>'s queue
/// through the outbound chain (the <see cref="InMemoryHostOptions.Outbound"/> decorators, the capture, the outbound
/// impairment) to the switch; what the switch delivers takes the inbound chain (the inbound impairment, the capture,
/// the <see cref="InMemoryHostOptions.Inbound"/> decorators) into the link's GRO.
/// </summary>
public sealed class InMemoryHost
{
    private readonly ImpairmentSlot _outboundSlot;
    private readonly ImpairmentSlot _inboundSlot;

    internal InMemoryHost(InMemoryNetwork network, int index, string name, NetworkStack stack, bool ownsStack, ChannelEndpoint link,
        IPAddress ipv4, IPAddress ipv6, PcapWriter? capture, InMemoryHostOptions options, InMemorySwitch @switch)
    {
        Network = network;
        Index = index;
        Name = name;
        Stack = stack;
        OwnsStack = ownsStack;
        Link = link;
        Ipv4 = ipv4;
        Ipv6 = ipv6;
        Capture = capture;
        TimeProvider clock = network.Clock;

        // Inbound: switch → impairment → capture → the host's decorators → the link's GRO.
        IPacketSink inbound = options.Inbound?.Invoke(link) ?? link;
        inbound = capture is null ? inbound : new PcapTapSink(inbound, capture);
        _inboundSlot = new ImpairmentSlot(inbound, clock, network.StageSeed(index, inbound: true), $"{network.Options.Name}/{name}/in");
        _inboundSlot.Set(options.InboundImpairment);
        InboundEntry = _inboundSlot;
        // Outbound: the link's queue → the host's decorators → capture → impairment → switch.
        _outboundSlot = new ImpairmentSlot(@switch.PortFor(this), clock, network.StageSeed(index, inbound: false), $"{network.Options.Name}/{name}/out");
        _outboundSlot.Set(options.OutboundImpairment);
        IPacketSink outbound = capture is null ? _outboundSlot : new PcapTapSink(_outboundSlot, capture);
        OutboundEntry = options.Outbound?.Invoke(outbound) ?? outbound;
        Nic = stack.CreateNic(link, name);
    }

    /// <summary>The network the host is on.</summary>
    public InMemoryNetwork Network { get; }

    /// <summary>The host's name (its NIC's and link's too).</summary>
    public string Name { get; }

    /// <summary>The host's stack.</summary>
    public NetworkStack Stack { get; }

    /// <summary>True when the network created the stack (and disposes it).</summary>
    public bool OwnsStack { get; }

    /// <summary>The stack's NIC on this network.</summary>
    public Nic Nic { get; }

    /// <summary>The NIC's link endpoint (its GRO and counters).</summary>
    public ChannelEndpoint Link { get; }

    /// <summary>The host's IPv4 address on this network.</summary>
    public IPAddress Ipv4 { get; }

    /// <summary>The host's IPv6 address on this network.</summary>
    public IPAddress Ipv6 { get; }

    /// <summary>The capture of the host's traffic, or null.</summary>
    public PcapWriter? Capture { get; }

    /// <summary>The wire direction that pumps the host's outbound packets (packets read, super-segments split).</summary>
    public PipeLinkDirection Wire { get; internal set; } = null!;

    /// <summary>The impairment stage of what the host sends (its counters), or null for a perfect wire.</summary>
    public ImpairmentStage? OutboundImpairment => _outboundSlot.Stage;

    /// <summary>The impairment stage of what the host receives, or null for a perfect wire.</summary>
    public ImpairmentStage? InboundImpairment => _inboundSlot.Stage;

    /// <summary>
    /// False partitions the host off: the switch drops (and counts) every packet from or to it until it is true
    /// again. Changeable at any time.
    /// </summary>
    public bool Connected
    {
        get => Volatile.Read(ref _connected);
        set => Volatile.Write(ref _connected, value);
    }

    private bool _connected = true;

    internal int Index { get; }

    /// <summary>The switch delivered to the host since its last flush (the pump's thread only).</summary>
    internal bool FlushPending { get; set; }

    /// <summary>Where the wire enqueues what the host sends.</summary>
    internal IPacketSink OutboundEntry { get; }

    /// <summary>Where the switch enqueues what the host receives.</summary>
    internal IPacketSink InboundEntry { get; }

    internal bool HasImpairment(bool inbound) => (inbound ? _inboundSlot : _outboundSlot).HasImpairment;

    /// <summary>
    /// Replaces the impairment of what the host sends (null: a perfect wire). Takes effect with the wire's next
    /// packet; packets the old stage still held are discarded and counted there.
    /// </summary>
    public void SetOutboundImpairment(ImpairmentOptions? options) => Change(_outboundSlot, options);

    /// <summary>Replaces the impairment of what the host receives (null: a perfect wire), as <see cref="SetOutboundImpairment"/> does.</summary>
    public void SetInboundImpairment(ImpairmentOptions? options) => Change(_inboundSlot, options);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Ipv4}, {Ipv6})";

    /// <summary>Disposes both chains (decorators and impairment stages, releasing what they hold), never the link or the switch.</summary>
    internal void DisposeChains()
    {
        (OutboundEntry as IDisposable)?.Dispose();
        _outboundSlot.Dispose(); // again, in case a decorator in front of it is not a PacketSinkDecorator
        _inboundSlot.Dispose();
    }

    private void Change(ImpairmentSlot slot, ImpairmentOptions? options)
    {
        options?.Validate();
        slot.Set(options);
        Network.OnImpairmentChanged();
    }
}

/// <summary>
/// An impairment stage that can be swapped at run time: the decorator stays in the chain, the stage behind it
/// changes. A change asked from any thread is applied by the chain's driver at its next call, so a stage is never
/// replaced under a packet. Without a stage every call passes straight to the inner sink.
/// </summary>
internal sealed class ImpairmentSlot(IPacketSink inner, TimeProvider clock, int seed, string name) : PacketSinkDecorator(inner)
{
    private ImpairmentStage? _stage; // the driver's thread only
    private Change? _pending;
    private int _generation;
    private volatile bool _disposed;

    /// <summary>The stage in force (a change not yet applied is not shown).</summary>
    public ImpairmentStage? Stage => Volatile.Read(ref _stage);

    /// <summary>True when a stage is in force or about to be.</summary>
    public bool HasImpairment => Volatile.Read(ref _pending) is { } change ? change.Options is not null : Stage is not null;

    /// <summary>Asks for a new stage (or none); the driver applies it at its next call.</summary>
    public void Set(ImpairmentOptions? options) => Volatile.Write(ref _pending, new Change(options));

    public override void Enqueue(PacketBuffer packet)
    {
        Apply();
        if (_stage is { } stage)
        {
            stage.Enqueue(packet);
        }
        else
        {
            Inner.Enqueue(packet);
        }
    }

    public override void Flush()
    {
        Apply();
        if (_stage is { } stage)
        {
            stage.Flush();
        }
        else
        {
            Inner.Flush();
        }
    }

    public override TimeSpan? TimeUntilNextDue => Volatile.Read(ref _stage)?.TimeUntilNextDue ?? Inner.TimeUntilNextDue;

    public override int DeliverDue()
    {
        Apply();
        return _stage is { } stage ? stage.DeliverDue() : Inner.DeliverDue();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed = true;
            Volatile.Write(ref _pending, null);
            Interlocked.Exchange(ref _stage, null)?.DisposeStage();
        }
    }

    private void Apply()
    {
        if (Volatile.Read(ref _pending) is null || _disposed)
        {
            return;
        }
        Change? change = Interlocked.Exchange(ref _pending, null);
        if (change is null)
        {
            return;
        }
        ImpairmentStage? old = _stage;
        // The first stage takes the port's seed; a replacement takes one derived from it and its generation.
        int stageSeed = _generation == 0 ? seed : unchecked((seed * -1640531535) + _generation);
        _generation++;
        Volatile.Write(ref _stage, change.Options is null ? null : new ImpairmentStage(Inner, change.Options, stageSeed, clock, name));
        old?.DisposeStage(); // releases (and counts) what it still held
    }

    private sealed record Change(ImpairmentOptions? Options);
}
