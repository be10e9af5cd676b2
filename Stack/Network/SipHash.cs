// Layer: network. SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed pseudo-random function behind the
// stack's unpredictable choices: IPv4 identification buckets, IPv6 fragment identifications, ephemeral ports
// (RFC 6056 §3.3.4's F and G). Linux uses the same function for the same jobs (ip_idents, secure_seq).
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace NetStack.Network;

/// <summary>SipHash-2-4 with a 128-bit key over a few words, allocation-free.</summary>
internal readonly struct SipHash
{
    private readonly ulong _k0;
    private readonly ulong _k1;

    internal SipHash(ulong k0, ulong k1)
    {
        _k0 = k0;
        _k1 = k1;
    }

    /// <summary>A key drawn from <paramref name="random"/> (a seeded simulation) or the system's CSPRNG.</summary>
    internal static SipHash Create(Random? random)
    {
        Span<byte> key = stackalloc byte[16];
        if (random is not null)
        {
            random.NextBytes(key);
        }
        else
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(key);
        }
        return new SipHash(BinaryPrimitives.ReadUInt64LittleEndian(key), BinaryPrimitives.ReadUInt64LittleEndian(key[8..]));
    }

    /// <summary>The PRF of five 64-bit words (a 40-byte message, each word little-endian).</summary>
    internal ulong Hash(ulong m0, ulong m1, ulong m2, ulong m3, ulong m4)
    {
        ulong v0 = 0x736f6d6570736575UL ^ _k0, v1 = 0x646f72616e646f6dUL ^ _k1;
        ulong v2 = 0x6c7967656e657261UL ^ _k0, v3 = 0x7465646279746573UL ^ _k1;
        Compress(ref v0, ref v1, ref v2, ref v3, m0);
        Compress(ref v0, ref v1, ref v2, ref v3, m1);
        Compress(ref v0, ref v1, ref v2, ref v3, m2);
        Compress(ref v0, ref v1, ref v2, ref v3, m3);
        Compress(ref v0, ref v1, ref v2, ref v3, m4);
        Compress(ref v0, ref v1, ref v2, ref v3, 40UL << 56); // the length byte; no tail bytes
        return Finish(v0, v1, v2, v3);
    }

    /// <summary>The PRF of six 64-bit words (a 48-byte message, each word little-endian).</summary>
    internal ulong Hash(ulong m0, ulong m1, ulong m2, ulong m3, ulong m4, ulong m5)
    {
        ulong v0 = 0x736f6d6570736575UL ^ _k0, v1 = 0x646f72616e646f6dUL ^ _k1;
        ulong v2 = 0x6c7967656e657261UL ^ _k0, v3 = 0x7465646279746573UL ^ _k1;
        Compress(ref v0, ref v1, ref v2, ref v3, m0);
        Compress(ref v0, ref v1, ref v2, ref v3, m1);
        Compress(ref v0, ref v1, ref v2, ref v3, m2);
        Compress(ref v0, ref v1, ref v2, ref v3, m3);
        Compress(ref v0, ref v1, ref v2, ref v3, m4);
        Compress(ref v0, ref v1, ref v2, ref v3, m5);
        Compress(ref v0, ref v1, ref v2, ref v3, 48UL << 56);
        return Finish(v0, v1, v2, v3);
    }

    /// <summary>The PRF of two addresses (of any version), a 16-bit value and a 32-bit value.</summary>
    internal ulong Hash(NetAddress a, NetAddress b, ushort port, uint extra) =>
        Hash((ulong)(a.Value >> 64), (ulong)a.Value, (ulong)(b.Value >> 64), (ulong)b.Value,
            ((ulong)a.Version << 56) | ((ulong)b.Version << 48) | ((ulong)port << 32) | extra);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Finish(ulong v0, ulong v1, ulong v2, ulong v3)
    {
        v2 ^= 0xFF;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Compress(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3, ulong m)
    {
        v3 ^= m;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = BitOperations.RotateLeft(v1, 13); v1 ^= v0; v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3; v3 = BitOperations.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = BitOperations.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = BitOperations.RotateLeft(v1, 17); v1 ^= v2; v2 = BitOperations.RotateLeft(v2, 32);
    }
}
