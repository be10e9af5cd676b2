// Layer: transport (TCP), send side. The send sequence space (RFC 9293 §3.3.1: SND.UNA, SND.NXT, SND.WND,
// SND.WL1, SND.WL2), the bytes behind it (SendBuffer), the effective send MSS
// (RFC 9293 §3.7.1), the segmentation decision of each send opportunity — one MSS, or with GSO the most whole
// segments a 64 KiB super-segment holds — under Nagle (§3.7.4) and sender-side SWS avoidance (§3.8.6.2.1), and
// the room the link has for more (LinkBackPressure).
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>What one send opportunity may hand the link, fixed when it begins (ARCHITECTURE.md §2 outbound step 2).</summary>
internal struct SendOpportunity
{
    /// <summary>Payload bytes per wire segment.</summary>
    public int Mss;

    /// <summary>Largest payload handed to the link at once: one MSS, or a GSO super-segment of whole MSS segments.</summary>
    public int MaxChunk;

    /// <summary>Segments the link's queue still takes (ILinkEndpoint.OutboundSpace less what waits to be flushed).</summary>
    public int LinkRoom;

    /// <summary>The congestion window, not the peer or the application, stopped new data.</summary>
    public bool CwndLimited;
}

/// <summary>What the segmentation decision allows next.</summary>
internal enum SendStep
{
    /// <summary>Nothing to send now (no data, or no window).</summary>
    Nothing,
    /// <summary>A segment of new data (with FIN when it ends the stream), if the link has room.</summary>
    Segment,
    /// <summary>A bare FIN: all data is sent; the FIN takes no window (it is one sequence number) and no link room check.</summary>
    Fin,
    /// <summary>The peer's window is zero and nothing is in flight: probe it (RFC 9293 §3.8.6.1).</summary>
    ZeroWindow,
    /// <summary>A small segment held back by Nagle or SWS avoidance; the override timer may send it later.</summary>
    HeldBack,
}

/// <summary>
/// The send side of one connection. Invariants (checked by TcpSenderTests): SND.UNA ≤ SND.NXT, and SND.NXT
/// never goes back — it is also the highest sequence number sent (RFC 6675 HighData, RACK's SND.MAX): after a
/// timeout what is resent is marked in the SACK scoreboard, not rewound to (RFC 6675 §5.1); the
/// window is taken only from a segment newer than the last one that set it (SND.WL1/SND.WL2, RFC 9293 §3.10.7.4
/// fifth) and the largest window seen never shrinks; an ACK is acceptable only within
/// [SND.UNA − MAX.SND.WND, SND.NXT] (RFC 5961 §5.2); a decision never exceeds the data queued, the largest
/// chunk, the peer's window or the congestion window, cuts a super-segment into whole MSS segments unless its
/// short tail could go on its own, and lets a segment shorter than the MSS go only as Nagle and SWS avoidance
/// allow; the effective MSS is never below <see cref="MinimumSendMss"/>. Not thread-safe: the connection's lock
/// guards it.
/// </summary>
internal sealed class TcpSender
{
    /// <summary>
    /// The smallest payload we put in a full segment, whatever MSS the peer announced (Linux's tcp_min_snd_mss):
    /// a peer announcing an MSS of 1 would otherwise make us send one packet per byte (CVE-2019-11479).
    /// </summary>
    internal const int MinimumSendMss = 48;

    private readonly SendBuffer _buffer;
    private SequenceNumber _wl1;
    private SequenceNumber _wl2;

    public TcpSender(SequenceNumber iss, PacketBufferPool pool, int bufferLimit, int mss)
    {
        Iss = iss;
        Una = iss;
        Nxt = iss;
        _buffer = new SendBuffer(pool);
        BufferLimit = bufferLimit;
        Mss = mss;
    }

    /// <summary>ISS: our initial sequence number.</summary>
    public SequenceNumber Iss { get; }

    /// <summary>SND.UNA: the oldest unacknowledged sequence number.</summary>
    public SequenceNumber Una { get; private set; }

    /// <summary>SND.NXT: the next sequence number of new data, one past the highest sent.</summary>
    public SequenceNumber Nxt { get; private set; }

    /// <summary>SND.WND: the peer's window, scaled, in bytes.</summary>
    public long Window { get; private set; }

    /// <summary>The largest window the peer has offered (RFC 5961 MAX.SND.WND; SWS avoidance's "maximum window").</summary>
    public long MaxWindow { get; private set; }

    /// <summary>The shift applied to the peer's window field (RFC 7323 §2.3).</summary>
    public byte WindowScale { get; set; }

    /// <summary>Eff.snd.MSS (RFC 9293 §3.7.1): payload bytes per segment, options we always send excluded.</summary>
    public int Mss { get; private set; }

    /// <summary>The application closed its send side: a FIN follows the data.</summary>
    public bool FinQueued { get; private set; }

    /// <summary>How many bytes the application may queue (unsent plus unacknowledged).</summary>
    public int BufferLimit { get; private set; }

    /// <summary>Committed bytes from SND.UNA on, sent or not.</summary>
    public int Buffered => _buffer.Length;

    /// <summary>Memory the send buffer's chunks pin (the TCP memory budget's charge).</summary>
    public long BufferMemory => _buffer.MemoryBytes;

    /// <summary>Room left in the send buffer.</summary>
    public int BufferSpace => BufferLimit - _buffer.Length;

    /// <summary>The last send opportunity stopped at the congestion window (RFC 7661: only then may cwnd grow).</summary>
    public bool CwndLimited { get; set; }

    /// <summary>Room on the link.</summary>
    public LinkBackPressure Link { get; } = new();

    /// <summary>Sequence numbers sent and not yet acknowledged (SND.NXT − SND.UNA).</summary>
    public long Outstanding => Nxt - Una;

    /// <summary>Sequence number just past the application's data (where the FIN goes); our SYN counts while unacknowledged.</summary>
    public SequenceNumber DataEnd(bool synOutstanding) => Una + _buffer.Length + (synOutstanding ? 1 : 0);

    /// <summary>Our FIN has been sent (it is the last sequence number sent).</summary>
    public bool FinSent(SequenceNumber dataEnd) => FinQueued && Nxt == dataEnd + 1;

    /// <summary>Sets the effective MSS (handshake, path MTU), at least <see cref="MinimumSendMss"/>.</summary>
    public void SetMss(int mss) => Mss = Math.Max(mss, MinimumSendMss);

    /// <summary>Our SYN is going out: the first time it takes sequence number ISS (returns true); again, nothing changes.</summary>
    public bool OnSynSent()
    {
        if (Nxt != Iss)
        {
            return false;
        }
        Nxt = Iss + 1;
        return true;
    }

    /// <summary>The window a SYN announced, never scaled (RFC 7323 §2.2); <paramref name="wl1"/>, <paramref name="wl2"/> as SND.WL1, SND.WL2.</summary>
    public void TakeSynWindow(ushort window, SequenceNumber wl1, SequenceNumber wl2)
    {
        Window = window;
        MaxWindow = window;
        _wl1 = wl1;
        _wl2 = wl2;
    }

    /// <summary>A SYN cookie's SYN-ACK was our SYN: it is sent (SND.NXT = ISS + 1), and the window waits for the ACK.</summary>
    public void RestoreSynSent(SequenceNumber irs)
    {
        Nxt = Iss + 1;
        _wl1 = irs;
        _wl2 = Iss;
    }

    /// <summary>The scaled window of a segment's window field.</summary>
    public long ScaledWindow(ushort field) => (long)field << WindowScale;

    /// <summary>Takes the window of the segment (<paramref name="seq"/>, <paramref name="ack"/>) as the latest (RFC 9293 §3.10.7.4 fifth).</summary>
    public void TakeWindow(SequenceNumber seq, SequenceNumber ack, ushort field)
    {
        Window = ScaledWindow(field);
        MaxWindow = Math.Max(MaxWindow, Window);
        _wl1 = seq;
        _wl2 = ack;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 fifth: the window is updated only from a segment newer than the one that last set it
    /// (SND.WL1 &lt; SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 ≤ SEG.ACK). Returns true when it was.
    /// </summary>
    public bool TryUpdateWindow(SequenceNumber seq, SequenceNumber ack, ushort field)
    {
        if (_wl1 < seq || (_wl1 == seq && _wl2 <= ack))
        {
            TakeWindow(seq, ack, field);
            return true;
        }
        return false;
    }

    /// <summary>RFC 5961 §5.2: an ACK is acceptable when SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT.</summary>
    public bool IsAcceptableAck(SequenceNumber ack) => !(ack > Nxt || ack < Una - (int)Math.Min(MaxWindow, int.MaxValue / 2));

    /// <summary>The peer's SYN-ACK acknowledged our SYN (RFC 9293 §3.10.7.3): SND.UNA = SEG.ACK.</summary>
    public void AcknowledgeSyn(SequenceNumber ack) => Una = ack;

    /// <summary>
    /// SND.UNA moves to <paramref name="ack"/> (&gt; SND.UNA): the acknowledged bytes of data (not our SYN or FIN)
    /// leave the send buffer. Returns how many.
    /// </summary>
    public int Acknowledge(SequenceNumber ack, SequenceNumber dataEnd)
    {
        int dataAcked = Math.Min(ack - Una, dataEnd - Una);
        _buffer.Consume(dataAcked);
        Una = ack;
        return dataAcked;
    }

    /// <summary><paramref name="length"/> sequence numbers of new data (and FIN) left at SND.NXT.</summary>
    public void OnSent(int length) => Nxt += length;

    /// <summary>
    /// The zero window opened while only probe bytes were out: they count as unsent again (SND.NXT = SND.UNA) —
    /// the one case where SND.NXT goes back, with nothing in the scoreboard.
    /// </summary>
    public void RewindToUna() => Nxt = Una;

    /// <summary>The application closed its send side.</summary>
    public void QueueFin() => FinQueued = true;

    /// <summary>Reserves up to <paramref name="max"/> bytes at the end of the send buffer for a copy outside the lock.</summary>
    public Span<byte> Reserve(int max) => _buffer.Reserve(max);

    /// <summary>Ends a reservation: <paramref name="used"/> bytes of it hold data.</summary>
    public void Commit(int used) => _buffer.Commit(used);

    /// <summary>Appends a chunk's bytes by reference; the buffer takes over the caller's reference.</summary>
    public void AppendChunk(PacketBuffer chunk) => _buffer.AppendChunk(chunk);

    /// <summary>Appends the payload at <paramref name="offset"/> from SND.UNA to <paramref name="packet"/>, by reference.</summary>
    public bool AppendPayload(PacketBuffer packet, int offset, int length) => _buffer.AppendTo(packet, offset, length);

    /// <summary>Releases the send buffer (reset, close).</summary>
    public void ClearBuffer() => _buffer.Clear();

    /// <summary>
    /// Buffer auto-tuning: after the congestion window moved, keep room for two windows of data (Linux's
    /// tcp_sndbuf_expand), up to <paramref name="max"/>. Returns true when the buffer grew.
    /// </summary>
    public bool GrowBuffer(long congestionWindow, int max)
    {
        long wanted = Math.Min(2 * congestionWindow, max);
        if (wanted <= BufferLimit)
        {
            return false;
        }
        BufferLimit = (int)wanted;
        return true;
    }

    /// <summary>
    /// Memory pressure: the limit falls to half what is queued, or to <paramref name="floor"/> at once when
    /// <paramref name="toFloor"/>, never below <paramref name="floor"/> (Linux's sk_stream_moderate_sndbuf).
    /// </summary>
    public void ModerateBuffer(int floor, bool toFloor)
    {
        int target = toFloor ? floor : Math.Max(floor, _buffer.Length / 2);
        if (target < BufferLimit)
        {
            BufferLimit = target;
        }
    }

    /// <summary>Begins a send opportunity: the segment sizes it may use and the link's room.</summary>
    public static SendOpportunity BeginOpportunity(ILinkEndpoint link, int queued, int mss, bool ipv4) => new()
    {
        Mss = mss,
        MaxChunk = MaxSuperSegmentPayload(link, mss, ipv4),
        LinkRoom = link.OutboundSpace - queued,
    };

    /// <summary>
    /// Payload of the largest segment we hand the link: with GSO (host or software) as many whole MSS-sized
    /// segments as fit a 64 KiB IP packet with the largest headers, else one MSS.
    /// </summary>
    public static int MaxSuperSegmentPayload(ILinkEndpoint link, int mss, bool ipv4)
    {
        if (link.SupportedGso == GsoSupport.None || link.GsoMaxSize <= 0)
        {
            return mss;
        }
        int headers = (ipv4 ? Ipv4Header.MinLength : Ipv6Header.Length) + TcpHeader.MaxLength;
        int room = Math.Min(link.GsoMaxSize, ushort.MaxValue) - headers;
        return Math.Max(mss, room / mss * mss);
    }

    /// <summary>
    /// Room on the link for one more segment of this opportunity. False when there is none: the sender is then
    /// blocked until the link drains (what the device cannot take yet stays in the send buffer, where it costs nothing).
    /// </summary>
    public bool TakeLinkRoom(ref SendOpportunity op, TimeSpan now)
    {
        if (op.LinkRoom <= 0)
        {
            Link.Block(backOff: false, now);
            return false;
        }
        op.LinkRoom--;
        return true;
    }

    /// <summary>
    /// The segmentation decision for the next segment of new data (RFC 9293 §3.8.6.2.1, RFC 5681 §3.1): at most
    /// min(data queued, the largest chunk, the peer's window, <paramref name="congestionRoom"/> = cwnd − pipe).
    /// <paramref name="overrideSws"/>: the override timer fired, a held-back small segment may go.
    /// </summary>
    public SendStep NextSegment(ref SendOpportunity op, SequenceNumber dataEnd, long congestionRoom, bool noDelay, bool overrideSws, out int length, out bool fin)
    {
        int mss = op.Mss;
        int available = dataEnd - Nxt;
        long receiveRoom = Window - (Nxt - Una);
        bool finPending = FinQueued && Nxt <= dataEnd;
        fin = false;
        length = 0;
        if (available <= 0)
        {
            fin = finPending && Nxt == dataEnd;
            return fin ? SendStep.Fin : SendStep.Nothing;
        }
        length = (int)Math.Min(Math.Min(available, op.MaxChunk), Math.Max(Math.Min(receiveRoom, congestionRoom), 0));
        if (length > mss && length % mss != 0)
        {
            // The short last segment of a super-segment follows full ones, so it is never sent "idle": it goes
            // only where Nagle and SWS avoidance would let it go after them, as it would without GSO.
            int tail = length % mss;
            bool tailIsEnd = length == available;
            if (!tailIsEnd || !(finPending || noDelay || tail >= MaxWindow / 2 || overrideSws))
            {
                length -= tail;
            }
        }
        if (length < mss && length < available && congestionRoom < receiveRoom && congestionRoom < mss)
        {
            op.CwndLimited = true; // the congestion window, not the peer or the application, stopped us
        }
        if (length <= 0)
        {
            return Window == 0 && Nxt == Una ? SendStep.ZeroWindow : SendStep.Nothing;
        }
        fin = finPending && length == available;
        if (length < mss && !fin && !MaySendSmall(length, available, noDelay, overrideSws))
        {
            return SendStep.HeldBack;
        }
        return SendStep.Segment;
    }

    /// <summary>
    /// Nagle (RFC 9293 §3.7.4): with data in flight, a small segment waits for an ACK (unless NoDelay). SWS
    /// avoidance (§3.8.6.2.1): a small segment goes only if it empties the queue, or is at least half the peer's
    /// largest window.
    /// </summary>
    private bool MaySendSmall(int length, int available, bool noDelay, bool overrideSws)
    {
        bool idle = Nxt == Una;
        bool allQueued = length == available;
        return (allQueued && (idle || noDelay)) || length >= MaxWindow / 2 || overrideSws;
    }

    /// <summary>
    /// A tail loss probe of new data (RFC 8985 §7.3), when the peer's window takes some: one send unit, with GSO a
    /// super-segment of up to two segments. False when there is no new data to probe with.
    /// </summary>
    public bool TryProbeWithNewData(int mss, int maxChunk, SequenceNumber dataEnd, out int length, out bool fin)
    {
        int available = dataEnd - Nxt;
        long receiveRoom = Window - (Nxt - Una);
        length = 0;
        fin = false;
        if (available <= 0 || receiveRoom <= 0)
        {
            return false;
        }
        int probe = Math.Min(2 * mss, maxChunk);
        length = (int)Math.Min(Math.Min(available, probe), receiveRoom);
        fin = FinQueued && length == available;
        return true;
    }
}
