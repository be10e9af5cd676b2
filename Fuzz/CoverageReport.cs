// Line coverage of the replayed corpus per area of the code, from a coverlet (Cobertura) report: what the corpus
// reaches of the wire formats, checksums, GRO, the channel endpoint and GSO. Fuzz/coverage.sh produces the report.
using System.Globalization;
using System.Xml.Linq;

namespace NetStack.Fuzz;

/// <summary>Sums a Cobertura report's lines per source folder.</summary>
public static class CoverageReport
{
    /// <summary>The areas reported, as folder prefixes relative to the repository root.</summary>
    public static readonly string[] Areas = ["Stack/Wire/", "Stack/Checksums/", "Gro/", "LinkEndpoint/Channel/", "LinkEndpoint/Gso/"];

    /// <summary>Covered and coverable lines per area (and in total) of the report at <paramref name="path"/>.</summary>
    public static IReadOnlyList<(string Area, int Covered, int Lines)> Summarize(string path)
    {
        XDocument report = XDocument.Load(path);
        string[] sources = [.. report.Descendants("source").Select(s => s.Value.Replace('\\', '/').TrimEnd('/') + "/")];
        // Partial classes and nested types list the same file more than once: count each (file, line) once.
        var lines = new Dictionary<(string File, int Line), bool>();
        foreach (XElement cls in report.Descendants("class"))
        {
            string file = cls.Attribute("filename")?.Value.Replace('\\', '/') ?? "";
            foreach (string source in sources)
            {
                if (file.StartsWith(source, StringComparison.Ordinal))
                {
                    file = file[source.Length..];
                    break;
                }
            }
            foreach (XElement line in cls.Descendants("line"))
            {
                int number = int.Parse(line.Attribute("number")!.Value, CultureInfo.InvariantCulture);
                bool hit = long.Parse(line.Attribute("hits")!.Value, CultureInfo.InvariantCulture) > 0;
                lines[(file, number)] = lines.TryGetValue((file, number), out bool seen) ? seen || hit : hit;
            }
        }
        var result = new List<(string, int, int)>();
        int allCovered = 0, all = 0;
        foreach (string area in Areas)
        {
            var inArea = lines.Where(kv => Relative(kv.Key.File).StartsWith(area, StringComparison.Ordinal)).ToList();
            int covered = inArea.Count(kv => kv.Value);
            result.Add((area, covered, inArea.Count));
            allCovered += covered;
            all += inArea.Count;
        }
        result.Add(("all of the above", allCovered, all));
        return result;
    }

    /// <summary>The uncovered lines of <paramref name="area"/> as "file:line" (for finding what seeds to add).</summary>
    public static IEnumerable<string> Uncovered(string path, string area)
    {
        XDocument report = XDocument.Load(path);
        var hits = new Dictionary<(string, int), bool>();
        foreach (XElement cls in report.Descendants("class"))
        {
            string file = Relative(cls.Attribute("filename")?.Value.Replace('\\', '/') ?? "");
            if (!file.StartsWith(area, StringComparison.Ordinal))
            {
                continue;
            }
            foreach (XElement line in cls.Descendants("line"))
            {
                var key = (file, int.Parse(line.Attribute("number")!.Value, CultureInfo.InvariantCulture));
                bool hit = long.Parse(line.Attribute("hits")!.Value, CultureInfo.InvariantCulture) > 0;
                hits[key] = hits.TryGetValue(key, out bool seen) ? seen || hit : hit;
            }
        }
        return hits.Where(kv => !kv.Value).OrderBy(kv => kv.Key).Select(kv => $"{kv.Key.Item1}:{kv.Key.Item2}");
    }

    // A path from the repository root: the part from the first known top folder on.
    private static string Relative(string file)
    {
        foreach (string top in (ReadOnlySpan<string>)["/Stack/", "/Gro/", "/LinkEndpoint/"])
        {
            int at = file.LastIndexOf(top, StringComparison.Ordinal);
            if (at >= 0)
            {
                return file[(at + 1)..];
            }
        }
        return file;
    }
}
