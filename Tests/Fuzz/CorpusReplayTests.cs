// The fuzz corpora replayed in-process, uninstrumented: one case per (target, file) so a crash once found and
// added to Fuzz/Corpora/<Target>/ stays fixed; files under crashes/ are known, unfixed bugs and are skipped. Plus a
// seeded mutation smoke run per target so CI exercises every target beyond its corpus.
using NetStack.Fuzz;
using NetStack.Fuzz.Seeds;
using Xunit.Abstractions;

namespace NetStack.Tests.Fuzz;

public class CorpusReplayTests(ITestOutputHelper output)
{
    private const int SmokeInputs = 2000;

    public static TheoryData<string, string> CorpusFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (string target in FuzzTargets.Names)
        {
            foreach (string file in Corpus.Files(Corpus.DirectoryOf(target)))
            {
                data.Add(target, Path.GetFileName(file));
            }
        }
        return data;
    }

    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (string target in FuzzTargets.Names)
        {
            data.Add(target);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Corpus_file_passes_its_target(string target, string file)
    {
        IFuzzTarget fuzz = FuzzTargets.Find(target)!;
        fuzz.Run(File.ReadAllBytes(Path.Combine(Corpus.DirectoryOf(target), file)));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_target_has_a_seed_corpus(string target)
    {
        IReadOnlyList<string> files = Corpus.Files(Corpus.DirectoryOf(target));
        Assert.True(files.Count >= 3, $"{target}: {files.Count} seed file(s) in {Corpus.DirectoryOf(target)}");
        long bytes = files.Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 64 * 1024, $"{target}: corpus of {bytes} bytes; keep seeds small");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Mutated_corpus_smoke(string target)
    {
        IFuzzTarget fuzz = FuzzTargets.Find(target)!;
        byte[][] corpus = [.. Corpus.Files(Corpus.DirectoryOf(target)).Select(File.ReadAllBytes)];
        var mutator = new Mutator(corpus, seed: 20250101);
        for (int i = 0; i < SmokeInputs; i++)
        {
            byte[] input = mutator.Next();
            try
            {
                fuzz.Run(input);
            }
            catch (Exception e)
            {
                Assert.Fail($"{target}: mutated input {i} failed: {e}\ninput: {Convert.ToHexString(input)}\n"
                    + $"keep it: write the bytes to Fuzz/Corpora/{target}/crashes/ and report the bug");
            }
        }
        output.WriteLine($"{target}: {SmokeInputs} mutated inputs from {corpus.Length} seeds");
    }

    [Fact]
    public void Targets_are_registered_by_convention()
    {
        IReadOnlyList<IFuzzTarget> all = FuzzTargets.CreateAll();
        Assert.Equal(["AckFilter", "ChannelInbound", "Checksum", "Gro", "GsoSplit", "IcmpV4", "IcmpV6", "IpLayout", "Ipv4", "Ipv4Reassembly", "Ipv6",
            "Ipv6Reassembly", "PcapFrame", "ProxyInbound", "ProxyRelay", "RxValidation", "StackInbound", "Tcp", "TcpConnection", "TunInbound", "Udp", "UdpWriteCoalescer"],
            all.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (IFuzzTarget target in all)
        {
            Assert.Equal(target.GetType().Name, target.Name + "Target");
            Assert.Same(target.GetType(), FuzzTargets.Find(target.Name.ToUpperInvariant())!.GetType());
        }
        Assert.Null(FuzzTargets.Find("NoSuchTarget"));
    }

    [Fact]
    public void Seed_generator_matches_the_committed_corpus()
    {
        // The committed seeds are what `NetStack.Fuzz seed` writes (through a pcap made by PcapWriter); files
        // added by hand (crash regressions, minimized finds) may sit beside them.
        string dir = Path.Combine(Path.GetTempPath(), $"netstack-seed-{Environment.ProcessId}");
        try
        {
            IReadOnlyDictionary<string, int> counts = SeedCorpus.Write(dir);
            foreach ((string target, int count) in counts)
            {
                Assert.True(count > 0);
                foreach (string generated in Directory.EnumerateFiles(Corpus.DirectoryOf(target, dir)))
                {
                    string committed = Path.Combine(Corpus.DirectoryOf(target), Path.GetFileName(generated));
                    Assert.True(File.Exists(committed), $"seed {committed} not committed: run NetStack.Fuzz seed Fuzz/Corpora");
                    Assert.Equal(File.ReadAllBytes(generated), File.ReadAllBytes(committed));
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Files_under_crashes_are_not_replayed()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"netstack-corpus-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, Corpus.CrashesFolder));
            File.WriteAllBytes(Path.Combine(dir, "b.bin"), [1]);
            File.WriteAllBytes(Path.Combine(dir, "a.bin"), [2]);
            File.WriteAllBytes(Path.Combine(dir, Corpus.CrashesFolder, "crash-1"), [3]);
            Assert.Equal(["a.bin", "b.bin"], Corpus.Files(dir).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
