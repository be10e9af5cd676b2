// NetStack.Fuzz: fuzz targets for SharpFuzz (libFuzzer or AFL), corpus replay, the seed-corpus generator and a
// mutation smoke run. See Fuzz/README.md.
using System.Diagnostics;
using System.Globalization;
using NetStack.Fuzz.Seeds;
using NetStack.Fuzz.Support;

namespace NetStack.Fuzz;

internal static class Program
{
    private const string Usage = """
        usage:
          NetStack.Fuzz list                              the targets
          NetStack.Fuzz <target>                          run under libFuzzer (started by Fuzz/run.sh)
          NetStack.Fuzz <target> --afl                    run under afl-fuzz (input on stdin or @@ file)
          NetStack.Fuzz <target> <file>...                run the target once per file
          NetStack.Fuzz replay <target|all> [dir]         run every corpus file (dir: the target's folder, or the root for all)
          NetStack.Fuzz smoke <target|all> [count] [seed] mutate the corpus and run (default 2000, seed 1)
          NetStack.Fuzz seed <outdir>                     write the seed corpus under outdir/<Target>/
          NetStack.Fuzz coverage <cobertura.xml> [area]   line coverage per area (or the uncovered lines of one area)
        """;

    private static int Main(string[] args)
    {
        ScratchCoverageMap.Install(); // instrumented assemblies work outside a fuzzer too (replay, files, list)
        if (args.Length == 0)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        switch (args[0])
        {
            case "list":
                foreach (string name in FuzzTargets.Names)
                {
                    Console.WriteLine(name);
                }
                return 0;
            case "replay":
                return args.Length >= 2 ? Replay(args[1], args.Length >= 3 ? args[2] : null) : Fail(Usage);
            case "smoke":
                return args.Length >= 2
                    ? Smoke(args[1], args.Length >= 3 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2000, args.Length >= 4 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1)
                    : Fail(Usage);
            case "seed":
                return args.Length >= 2 ? Seed(args[1]) : Fail(Usage);
            case "coverage":
                return args.Length >= 2 ? Coverage(args[1], args.Length >= 3 ? args[2] : null) : Fail(Usage);
            case "-h" or "--help" or "help":
                Console.WriteLine(Usage);
                return 0;
            default:
                return RunTarget(args);
        }
    }

    private static int RunTarget(string[] args)
    {
        IFuzzTarget? target = FuzzTargets.Find(args[0]);
        if (target is null)
        {
            return Fail($"unknown target '{args[0]}'; targets: {string.Join(", ", FuzzTargets.Names)}");
        }
        if (args.Length >= 2 && args[1] == "--afl")
        {
            // afl-fuzz: SharpFuzz's fork server feeds each input as a stream; an escaping exception is a crash.
            var buffer = new MemoryStream();
            SharpFuzz.Fuzzer.Run(stream =>
            {
                buffer.SetLength(0);
                stream.CopyTo(buffer);
                target.Run(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            });
            return 0;
        }
        if (args.Length >= 2)
        {
            foreach (string file in args.Skip(1))
            {
                target.Run(File.ReadAllBytes(file));
                Console.WriteLine($"{target.Name}: {file}: ok");
            }
            return 0;
        }
        if (Environment.GetEnvironmentVariable("__LIBFUZZER_SHM_ID") is null)
        {
            return Fail($"{target.Name}: not started by a libFuzzer driver (use Fuzz/run.sh {target.Name}, or give input files)");
        }
        SharpFuzz.Fuzzer.LibFuzzer.Run(span => target.Run(span));
        return 0;
    }

    private static int Coverage(string report, string? area)
    {
        if (area is not null)
        {
            foreach (string line in CoverageReport.Uncovered(report, area))
            {
                Console.WriteLine(line);
            }
            return 0;
        }
        foreach ((string name, int covered, int lines) in CoverageReport.Summarize(report))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {covered,6} / {lines,6} lines  {(lines == 0 ? 0 : 100.0 * covered / lines),6:F1} %"));
        }
        return 0;
    }

    private static int Replay(string which, string? dir)
    {
        IReadOnlyList<IFuzzTarget> targets = Select(which);
        if (targets.Count == 0)
        {
            return Fail($"unknown target '{which}'");
        }
        int failures = 0, total = 0;
        foreach (IFuzzTarget target in targets)
        {
            string folder = dir is null ? Corpus.DirectoryOf(target.Name)
                : targets.Count == 1 ? dir : Corpus.DirectoryOf(target.Name, dir);
            IReadOnlyList<string> files = Corpus.Files(folder);
            var clock = Stopwatch.StartNew();
            foreach (string file in files)
            {
                total++;
                try
                {
                    target.Run(File.ReadAllBytes(file));
                }
#pragma warning disable CA1031 // replay reports every failure and goes on to the next file
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures++;
                    Console.Error.WriteLine($"{target.Name}: {file}: FAILED\n{e}");
                }
            }
            Console.WriteLine($"{target.Name}: {files.Count} file(s) from {folder} in {clock.ElapsedMilliseconds} ms");
        }
        Console.WriteLine($"replay: {total - failures} passed, {failures} failed");
        return failures == 0 ? 0 : 1;
    }

    private static int Smoke(string which, int count, int seed)
    {
        IReadOnlyList<IFuzzTarget> targets = Select(which);
        if (targets.Count == 0)
        {
            return Fail($"unknown target '{which}'");
        }
        foreach (IFuzzTarget target in targets)
        {
            byte[][] corpus = [.. Corpus.Files(Corpus.DirectoryOf(target.Name)).Select(File.ReadAllBytes)];
            var mutator = new Mutator(corpus, seed);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < count; i++)
            {
                byte[] input = mutator.Next();
                try
                {
                    target.Run(input);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"{target.Name}: input {i} ({Convert.ToHexString(input)}) failed");
                    throw new FuzzInvariantException($"{target.Name} smoke input {i} failed", e);
                }
            }
            Console.WriteLine($"{target.Name}: {count} mutated inputs in {clock.ElapsedMilliseconds} ms ({count * 1000.0 / Math.Max(1, clock.ElapsedMilliseconds):F0}/s)");
        }
        return 0;
    }

    private static int Seed(string outdir)
    {
        foreach ((string target, int files) in SeedCorpus.Write(outdir).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Console.WriteLine($"{target}: {files} file(s)");
        }
        return 0;
    }

    private static IReadOnlyList<IFuzzTarget> Select(string which) =>
        string.Equals(which, "all", StringComparison.OrdinalIgnoreCase)
            ? FuzzTargets.CreateAll()
            : FuzzTargets.Find(which) is IFuzzTarget one ? [one] : [];

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
