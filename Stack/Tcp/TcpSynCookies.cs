// Layer: transport (TCP). SYN cookies (RFC 4987 §3.6): when a listener's backlog is full, the SYN-ACK's
// sequence number carries what the connection needs — the MSS as an index into a table and a keyed MAC over
// the 4-tuple, the peer's ISN and a coarse time — so no state is kept until the handshake's ACK proves the
// peer can receive at its address. Where the SYN had timestamps, our TSval's low bits carry the peer's window
// scale and SACK-permitted, which the ACK's TSecr echoes back.
using System.Buffers.Binary;
using System.Security.Cryptography;
using NetStack.Network;

namespace NetStack.Tcp;

/// <summary>When a listener answers SYNs with cookies instead of keeping half-open connections.</summary>
public enum TcpSynCookieMode
{
    /// <summary>Only once the listener's backlog is full (Linux's tcp_syncookies = 1).</summary>
    WhenBacklogFull,
    /// <summary>For every SYN (tests, or hosts under constant attack).</summary>
    Always,
    /// <summary>Never: SYNs past the backlog are dropped.</summary>
    Never,
}

/// <summary>What a valid cookie gave back.</summary>
internal readonly record struct SynCookie(int Mss, byte? WindowScale, bool SackPermitted, bool Timestamps);

/// <summary>
/// Makes and checks SYN cookies for one TCP instance. A cookie is a 2-bit index into an MSS table (Linux's msstab)
/// and a 30-bit MAC over the 4-tuple, the peer's ISN, the index and a 64-second time slot; a cookie is good in its
/// own slot and the next (64 to 128 s). No time field rides in the cookie: a check tries the current and the
/// previous slot, so a random guess passes with probability 2 · 2^-30 = 2^-29 (Linux's cookies give about 2^-28).
/// </summary>
internal sealed class TcpSynCookies
{
    /// <summary>The MSS values a cookie can say, as Linux's msstab: the largest not above the peer's is chosen.</summary>
    private static readonly ushort[] s_mssTableV4 = [536, 1300, 1440, 1460];

    /// <summary>IPv6's table (Linux's msstab for IPv6: 1280, 1480, 1500 and 9000 bytes of MTU less 60).</summary>
    private static readonly ushort[] s_mssTableV6 = [1220, 1420, 1440, 8940];

    private const int MssBits = 2;
    private const int MacBits = 32 - MssBits;
    private const uint MacMask = (1u << MacBits) - 1;
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(64);

    /// <summary>
    /// How long after its last cookie a listener still takes ACKs as cookies: a cookie's whole life (Linux's
    /// TCP_SYNCOOKIE_VALID, 120 s with its 60-second periods; tcp_synq_no_recent_overflow).
    /// </summary>
    internal static readonly TimeSpan ValidFor = TimeSpan.FromSeconds(128);

    internal const int TimestampBits = 5;               // TSval's low bits: 4 for the window scale, 1 for SACK
    private const byte NoWindowScale = 15;

    private readonly SipHash _key;
    private readonly TimeProvider _clock;
    private readonly long _epoch;

    public TcpSynCookies(byte[]? secret, TimeProvider clock)
    {
        Span<byte> key = stackalloc byte[32];
        if (secret is { Length: > 0 })
        {
            HMACSHA256.HashData(secret, "syncookie"u8, key); // a key of its own, apart from the ISN's
        }
        else
        {
            RandomNumberGenerator.Fill(key);
        }
        _key = new SipHash(BinaryPrimitives.ReadUInt64LittleEndian(key), BinaryPrimitives.ReadUInt64LittleEndian(key[8..]));
        _clock = clock;
        _epoch = clock.GetTimestamp();
    }

    private uint Slot => (uint)(_clock.GetElapsedTime(_epoch).Ticks / Period.Ticks);

    /// <summary>Our ISS for a SYN with <paramref name="peerIsn"/> announcing <paramref name="peerMss"/>.</summary>
    public uint Make(in TcpFourTuple tuple, uint peerIsn, int peerMss)
    {
        ReadOnlySpan<ushort> table = tuple.RemoteAddress.IsV4 ? s_mssTableV4 : s_mssTableV6;
        int index = 0;
        for (int i = table.Length - 1; i >= 0; i--)
        {
            if (table[i] <= peerMss)
            {
                index = i;
                break;
            }
        }
        return ((uint)index << MacBits) | (Mac(tuple, peerIsn, Slot, index) & MacMask);
    }

    /// <summary>Checks the ACK of a cookie SYN-ACK: <paramref name="iss"/> = SEG.ACK − 1, <paramref name="peerIsn"/> = SEG.SEQ − 1.</summary>
    public bool TryCheck(in TcpFourTuple tuple, uint iss, uint peerIsn, out int mss)
    {
        int index = (int)(iss >> MacBits);
        mss = (tuple.RemoteAddress.IsV4 ? s_mssTableV4 : s_mssTableV6)[index];
        uint slot = Slot;
        uint mac = iss & MacMask;
        return (Mac(tuple, peerIsn, slot, index) & MacMask) == mac
            || (slot > 0 && (Mac(tuple, peerIsn, slot - 1, index) & MacMask) == mac);
    }

    /// <summary>Our SYN-ACK TSval with the peer's options in its low bits.</summary>
    public static uint EncodeTimestamp(uint now, byte? windowScale, bool sack) =>
        (now & ~((1u << TimestampBits) - 1)) | ((uint)((windowScale ?? NoWindowScale) & 0xF) << 1) | (sack ? 1u : 0);

    /// <summary>The options the ACK's TSecr brings back.</summary>
    public static (byte? WindowScale, bool Sack) DecodeTimestamp(uint echo)
    {
        byte scale = (byte)((echo >> 1) & 0xF);
        return (scale == NoWindowScale ? null : scale, (echo & 1) != 0);
    }

    /// <summary>SipHash-2-4 (as Linux's cookie_hash) over the 4-tuple, the peer's ISN, the slot and the MSS index.</summary>
    private uint Mac(in TcpFourTuple tuple, uint peerIsn, uint slot, int mssIndex)
    {
        UInt128 local = tuple.LocalAddress.Value, remote = tuple.RemoteAddress.Value;
        ulong ports = ((ulong)tuple.LocalPort << 48) | ((ulong)tuple.RemotePort << 32) | peerIsn;
        ulong rest = ((ulong)tuple.LocalAddress.Version << 56) | ((ulong)tuple.RemoteAddress.Version << 48) | ((ulong)mssIndex << 40) | slot;
        return (uint)_key.Hash((ulong)(local >> 64), (ulong)local, (ulong)(remote >> 64), (ulong)remote, ports, rest);
    }
}
