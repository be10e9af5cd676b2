// docs/harness.md's recipes are the test classes in Tests/Simulation/Recipes, shown whole: each fenced block after a
// recipe marker must equal its file line for line, and the first recipe's test method stays within ten lines.
namespace NetStack.Tests.Simulation;

public class HarnessDocsTests
{
    private const string Marker = "<!-- recipe: ";

    [Fact]
    public void Recipes_TheDocsShowEachRecipeFileExactly_AndEveryRecipeFileIsShown()
    {
        string root = RepositoryRoot();
        string[] doc = File.ReadAllLines(Path.Combine(root, "docs", "harness.md"));
        var shown = new List<string>();
        for (int i = 0; i < doc.Length; i++)
        {
            if (!doc[i].StartsWith(Marker, StringComparison.Ordinal))
            {
                continue;
            }
            string file = doc[i][Marker.Length..^" -->".Length];
            shown.Add(Path.GetFileName(file));
            Assert.Equal("```csharp", doc[i + 1]);
            int end = Array.IndexOf(doc, "```", i + 2);
            Assert.Equal(File.ReadAllLines(Path.Combine(root, file)), doc[(i + 2)..end]);
        }
        string[] recipes = [.. Directory.GetFiles(Path.Combine(root, "Tests", "Simulation", "Recipes"), "*.cs").Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(recipes, shown.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Recipes_TheFirstRecipesTestMethod_IsAtMostTenLines()
    {
        string root = RepositoryRoot();
        string[] doc = File.ReadAllLines(Path.Combine(root, "docs", "harness.md"));
        int block = Array.FindIndex(doc, l => l.StartsWith(Marker, StringComparison.Ordinal)) + 2;
        int open = Array.FindIndex(doc, block, l => l.Trim() == "{" && doc[Array.IndexOf(doc, l, block) - 1].Contains("async Task", StringComparison.Ordinal));
        int close = Array.FindIndex(doc, open, l => l == "    }");
        Assert.InRange(close - open - 1, 1, 10);
    }

    private static string RepositoryRoot() => Support.RepositoryPaths.Root();
}
