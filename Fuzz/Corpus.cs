// Where seed corpora live: Fuzz/Corpora/<Target>/ in the repository (the source of truth, found by walking up from
// the running assembly), else the copy next to the assembly. Files under a crashes/ subfolder are kept for the
// record and excluded from replay until the bug they show is fixed (then move them up one level).
namespace NetStack.Fuzz;

/// <summary>Finds and reads seed corpora.</summary>
public static class Corpus
{
    /// <summary>Environment variable that overrides the corpora root.</summary>
    public const string RootVariable = "NETSTACK_FUZZ_CORPORA";

    /// <summary>Name of the subfolder of a target's corpus that holds known crashing inputs, not replayed.</summary>
    public const string CrashesFolder = "crashes";

    /// <summary>The corpora root: the environment override, the repository's Fuzz/Corpora, or Corpora beside the assembly.</summary>
    public static string Root
    {
        get
        {
            string? overridden = Environment.GetEnvironmentVariable(RootVariable);
            if (!string.IsNullOrEmpty(overridden))
            {
                return overridden;
            }
            for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "Fuzz", "Corpora");
                if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Fuzz", "Fuzz.csproj")))
                {
                    return candidate;
                }
            }
            return Path.Combine(AppContext.BaseDirectory, "Corpora");
        }
    }

    /// <summary>The corpus folder of <paramref name="target"/> under <paramref name="root"/> (default <see cref="Root"/>).</summary>
    public static string DirectoryOf(string target, string? root = null) => Path.Combine(root ?? Root, target);

    /// <summary>The replayable files of a corpus folder (top level only, so crashes/ is left out), sorted by name.</summary>
    public static IReadOnlyList<string> Files(string directory) =>
        Directory.Exists(directory)
            ? [.. Directory.EnumerateFiles(directory, "*", SearchOption.TopDirectoryOnly)
                .Where(f => !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal)]
            : [];
}
