// A small, seeded byte mutator (bit flips, byte sets, interesting values, inserts, deletes, splices), so CI can
// push each target beyond its corpus without a fuzzing engine. Not coverage-guided: that is libFuzzer's job.
namespace NetStack.Fuzz;

/// <summary>Deterministic mutations of corpus inputs from a seeded <see cref="Random"/>.</summary>
public sealed class Mutator
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0F, 0x10, 0x11, 0x14, 0x28, 0x2C, 0x3A, 0x3C, 0x40, 0x45, 0x46, 0x4F, 0x50, 0x60, 0x7F, 0x80, 0xF0, 0xFE, 0xFF];

    private readonly Random _random;
    private readonly IReadOnlyList<byte[]> _corpus;
    private readonly int _maxLength;

    /// <summary>Mutates inputs drawn from <paramref name="corpus"/> (random bytes when empty), seeded by <paramref name="seed"/>.</summary>
    public Mutator(IReadOnlyList<byte[]> corpus, int seed, int maxLength = 4096)
    {
        _corpus = corpus;
        _random = new Random(seed);
        _maxLength = maxLength;
    }

    /// <summary>The next input: a corpus entry with 1–8 mutations, or (one time in 16, or with no corpus) random bytes.</summary>
    public byte[] Next()
    {
        if (_corpus.Count == 0 || _random.Next(16) == 0)
        {
            var noise = new byte[_random.Next(_random.Next(2) == 0 ? 64 : 1500)];
            _random.NextBytes(noise);
            return noise;
        }
        var data = new List<byte>(_corpus[_random.Next(_corpus.Count)]);
        int rounds = 1 + _random.Next(8);
        for (int i = 0; i < rounds; i++)
        {
            Mutate(data);
        }
        if (data.Count > _maxLength)
        {
            data.RemoveRange(_maxLength, data.Count - _maxLength);
        }
        return [.. data];
    }

    private void Mutate(List<byte> data)
    {
        int position = data.Count == 0 ? 0 : _random.Next(data.Count);
        switch (_random.Next(data.Count == 0 ? 1 : 8))
        {
            case 0: // insert a few bytes
                for (int n = 1 + _random.Next(4); n > 0; n--)
                {
                    data.Insert(position, (byte)_random.Next(256));
                }
                break;
            case 1:
                data[position] ^= (byte)(1 << _random.Next(8));
                break;
            case 2:
                data[position] = (byte)_random.Next(256);
                break;
            case 3:
                data[position] = Interesting[_random.Next(Interesting.Length)];
                break;
            case 4: // delete a run
                data.RemoveRange(position, Math.Min(data.Count - position, 1 + _random.Next(8)));
                break;
            case 5: // truncate
                data.RemoveRange(position, data.Count - position);
                break;
            case 6: // add/subtract a small number to a 16-bit big-endian field (lengths, offsets)
                if (position + 1 < data.Count)
                {
                    int value = ((data[position] << 8) | data[position + 1]) + _random.Next(-16, 17);
                    data[position] = (byte)(value >> 8);
                    data[position + 1] = (byte)value;
                }
                break;
            default: // splice in bytes from another corpus entry
                byte[] other = _corpus[_random.Next(_corpus.Count)];
                if (other.Length > 0)
                {
                    int from = _random.Next(other.Length);
                    int take = Math.Min(other.Length - from, 1 + _random.Next(32));
                    data.InsertRange(position, other.AsSpan(from, take).ToArray());
                }
                break;
        }
    }
}
