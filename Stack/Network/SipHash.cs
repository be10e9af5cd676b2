// Layer: network. SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed pseudo-random function behind the
// stack's unpredictable choices: IPv4 identification buckets and connection counters' starts, IPv6 fragment
// identifications, ephemeral ports (RFC 6056 §3.3.4's F and G), TCP ISNs (RFC 6528 §3's F). Linux uses the same
// function for the same jobs (ip_idents, secure_seq).
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
        State s = Absorb(m0, m1, m2, m3);
        s.Compress(m4);
        return s.Finish(40UL << 56); // the length byte; no tail bytes
    }

    /// <summary>The PRF of six 64-bit words (a 48-byte message, each word little-endian).</summary>
    internal ulong Hash(ulong m0, ulong m1, ulong m2, ulong m3, ulong m4, ulong m5)
    {
        State s = Absorb(m0, m1, m2, m3);
        s.Compress(m4);
        s.Compress(m5);
        return s.Finish(48UL << 56);
    }

    /// <summary>The PRF of two addresses (of any version), a 16-bit value and a 32-bit value.</summary>
    internal ulong Hash(NetAddress a, NetAddress b, ushort port, uint extra) =>
        Hash((ulong)(a.Value >> 64), (ulong)a.Value, (ulong)(b.Value >> 64), (ulong)b.Value,
            ((ulong)a.Version << 56) | ((ulong)b.Version << 48) | ((ulong)port << 32) | extra);

    /// <summary>The keyed initial state after the first four words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly State Absorb(ulong m0, ulong m1, ulong m2, ulong m3)
    {
        var s = new State
        {
            V0 = 0x736f6d6570736575UL ^ _k0,
            V1 = 0x646f72616e646f6dUL ^ _k1,
            V2 = 0x6c7967656e657261UL ^ _k0,
            V3 = 0x7465646279746573UL ^ _k1,
        };
        s.Compress(m0);
        s.Compress(m1);
        s.Compress(m2);
        s.Compress(m3);
        return s;
    }

    /// <summary>SipHash's four state words (a struct of four longs: the JIT keeps them in registers).</summary>
    private struct State
    {
        internal ulong V0, V1, V2, V3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal void Compress(ulong m)
        {
            V3 ^= m;
            Round();
            Round();
            V0 ^= m;
        }

        /// <summary>The last word (the length byte), then the four finishing rounds.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal ulong Finish(ulong lengthWord)
        {
            Compress(lengthWord);
            V2 ^= 0xFF;
            Round();
            Round();
            Round();
            Round();
            return V0 ^ V1 ^ V2 ^ V3;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Round()
        {
            V0 += V1; V1 = BitOperations.RotateLeft(V1, 13); V1 ^= V0; V0 = BitOperations.RotateLeft(V0, 32);
            V2 += V3; V3 = BitOperations.RotateLeft(V3, 16); V3 ^= V2;
            V0 += V3; V3 = BitOperations.RotateLeft(V3, 21); V3 ^= V0;
            V2 += V1; V1 = BitOperations.RotateLeft(V1, 17); V1 ^= V2; V2 = BitOperations.RotateLeft(V2, 32);
        }
    }
}
