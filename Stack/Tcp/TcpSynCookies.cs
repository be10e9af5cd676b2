// Layer: transport (TCP). SYN cookies (RFC 4987 §3.6): when a listener's backlog is full, the SYN-ACK's
// sequence number carries what the connection needs — a coarse time, the MSS as an index into a table and a
// keyed hash over the 4-tuple and the peer's ISN — so no state is kept until the handshake's ACK proves the
// peer can receive at its address. Where the SYN had timestamps, our TSval's low bits carry the peer's window
// scale and SACK-permitted, which the ACK's TSecr echoes back.
using System.Buffers.Binary;
using System.Security.Cryptography;

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

/// <summary>Makes and checks SYN cookies for one TCP instance.</summary>
internal sealed class TcpSynCookies
{
    /// <summary>The MSS values a cookie can say (3 bits): the largest not above the peer's is chosen.</summary>
    private static readonly ushort[] s_mssTable = [536, 1200, 1360, 1440, 1460, 4312, 8960, 65495];

    private const int TimeBits = 8;
    private const int MssBits = 3;
    private const int HashBits = 32 - TimeBits - MssBits;
    private const uint HashMask = (1u << HashBits) - 1;
    private const int MaxAgeTicks = 2;                  // a cookie is good for two to three periods
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(64);
    internal const int TimestampBits = 5;               // TSval's low bits: 4 for the window scale, 1 for SACK
    private const byte NoWindowScale = 15;

    private readonly byte[] _secret;
    private readonly TimeProvider _clock;
    private readonly long _epoch;

    public TcpSynCookies(byte[]? secret, TimeProvider clock)
    {
        _secret = secret is { Length: > 0 } ? [.. secret, 0xC0, 0x0C] : RandomNumberGenerator.GetBytes(32);
        _clock = clock;
        _epoch = clock.GetTimestamp();
    }

    private uint Tick => (uint)(_clock.GetElapsedTime(_epoch).Ticks / Period.Ticks);

    /// <summary>Our ISS for a SYN with <paramref name="peerIsn"/> announcing <paramref name="peerMss"/>.</summary>
    public uint Make(in TcpFourTuple tuple, uint peerIsn, int peerMss)
    {
        int index = 0;
        for (int i = s_mssTable.Length - 1; i >= 0; i--)
        {
            if (s_mssTable[i] <= peerMss)
            {
                index = i;
                break;
            }
        }
        uint tick = Tick & ((1u << TimeBits) - 1);
        return (tick << (32 - TimeBits)) | ((uint)index << HashBits) | (Hash(tuple, peerIsn, tick, index) & HashMask);
    }

    /// <summary>Checks the ACK of a cookie SYN-ACK: <paramref name="iss"/> = SEG.ACK − 1, <paramref name="peerIsn"/> = SEG.SEQ − 1.</summary>
    public bool TryCheck(in TcpFourTuple tuple, uint iss, uint peerIsn, out int mss)
    {
        uint tick = iss >> (32 - TimeBits);
        int index = (int)((iss >> HashBits) & ((1u << MssBits) - 1));
        uint age = (Tick - tick) & ((1u << TimeBits) - 1);
        mss = s_mssTable[index];
        return age <= MaxAgeTicks && (Hash(tuple, peerIsn, tick, index) & HashMask) == (iss & HashMask);
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

    private uint Hash(in TcpFourTuple tuple, uint peerIsn, uint tick, int mssIndex)
    {
        Span<byte> data = stackalloc byte[16 + 16 + 4 + 4 + 4 + 1];
        data.Clear();
        tuple.LocalAddress.WriteBytes(data);
        tuple.RemoteAddress.WriteBytes(data[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(data[32..], tuple.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(data[34..], tuple.RemotePort);
        BinaryPrimitives.WriteUInt32BigEndian(data[36..], peerIsn);
        BinaryPrimitives.WriteUInt32BigEndian(data[40..], tick);
        data[44] = (byte)mssIndex;
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_secret, data, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash);
    }
}
