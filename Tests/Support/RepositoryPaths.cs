// Where the repository is, for tests that read its files (README.md, the solution) or pack its projects.
using System.Runtime.CompilerServices;

namespace NetStack.Tests.Support;

internal static class RepositoryPaths
{
    /// <summary>The folder holding NetStack.sln: above the test binaries, else above this source file.</summary>
    public static string Root([CallerFilePath] string here = "")
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "NetStack.sln")))
            {
                return dir;
            }
        }
        return Path.GetDirectoryName(Path.GetDirectoryName(here))!; // Tests/Support/RepositoryPaths.cs → Tests → the repository
    }
}
