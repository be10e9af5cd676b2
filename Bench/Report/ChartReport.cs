// `Bench report`: turns the recorded figures (Bench/results/figures.csv, one row per measured value with its date
// and command) into the SVG charts BENCHMARKS.md shows (docs/charts/). Each chart is grouped bars: one group per
// row "group", one bar colour per "series", in the order the rows first name them.
using System.Globalization;
using ScottPlot;

namespace NetStack.Bench.Report;

/// <summary>One recorded figure.</summary>
internal sealed record Figure(string Chart, string Group, string Series, double Value, string Date, string Command);

/// <summary>What a chart shows: its title, the unit of its values, and a reference line (e.g. 1× the kernel).</summary>
internal sealed record ChartSpec(string Id, string Title, string Unit, double? Reference = null, string? ReferenceLabel = null, bool Horizontal = false);

internal static class ChartReport
{
    private static readonly ChartSpec[] Charts =
    [
        new("stack-vs-kernel", "NetStack ÷ the kernel, same work, same run (above 1: faster)", "× kernel", 1.0, "the kernel", Horizontal: true),
        new("peers-throughput", "iperf3 through rootless networking, one stream (Gbit/s)", "Gbit/s"),
        new("peers-rps", "wrk → nginx on the host through rootless networking (requests/s)", "requests/s"),
        new("peers-rss", "Peak RSS of the networking process, iperf3 -P 32 (MB)", "MB"),
        new("harness-scale", "The harness against its goals (above 1: met)", "ratio", 1.0, "goal", Horizontal: true),
    ];

    /// <summary>Series that appear in several charts keep one colour everywhere (index into the palette).</summary>
    private static readonly string[] KnownSeries = ["NetStack", "kernel loopback", "pasta", "slirp4netns", "netstack run"];

    /// <summary>Entry point: <c>report [--png] [figures.csv] [output folder]</c> (SVG unless --png).</summary>
    public static int Run(string[] args)
    {
        bool png = args.Contains("--png");
        args = args.Where(a => a != "--png").ToArray();
        string root = FindRoot();
        string input = args.Length > 0 ? args[0] : Path.Combine(root, "Bench", "results", "figures.csv");
        string output = args.Length > 1 ? args[1] : Path.Combine(root, "docs", "charts");
        List<Figure> figures;
        try
        {
            figures = Parse(File.ReadAllLines(input));
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"{input}: {e.Message}");
            return 2;
        }
        Directory.CreateDirectory(output);
        foreach (string unknown in figures.Select(f => f.Chart).Distinct().Where(c => Charts.All(s => s.Id != c)))
        {
            Console.Error.WriteLine($"{input}: chart '{unknown}' is not one of {string.Join(", ", Charts.Select(c => c.Id))}");
            return 2;
        }
        foreach (ChartSpec spec in Charts)
        {
            List<Figure> rows = figures.Where(f => f.Chart == spec.Id).ToList();
            if (rows.Count == 0)
            {
                continue;
            }
            string path = Path.Combine(output, spec.Id + (png ? ".png" : ".svg"));
            Plot plot = Render(spec, rows);
            if (png)
            {
                plot.SavePng(path, 900, 420);
            }
            else
            {
                plot.SaveSvg(path, 900, 420);
            }
            Console.WriteLine($"{path}: {rows.Count} figures");
        }
        return 0;
    }

    /// <summary>Reads the CSV: a header line, then chart,group,series,value,date,command (fields may be quoted).</summary>
    internal static List<Figure> Parse(IReadOnlyList<string> lines)
    {
        var figures = new List<Figure>();
        for (int i = 1; i < lines.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }
            List<string> f = SplitCsv(lines[i]);
            if (f.Count != 6 || !double.TryParse(f[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            {
                throw new FormatException($"line {i + 1}: expected chart,group,series,value,date,command with a number for value");
            }
            figures.Add(new Figure(f[0], f[1], f[2], value, f[4], f[5]));
        }
        return figures;
    }

    private static Plot Render(ChartSpec spec, List<Figure> rows)
    {
        var plot = new Plot();
        List<string> groups = rows.Select(r => r.Group).Distinct().ToList();
        List<string> series = rows.Select(r => r.Series).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        Color ColorOf(string name) => palette.GetColor(Array.IndexOf(KnownSeries, name) is int k and >= 0 ? k : KnownSeries.Length + series.IndexOf(name));
        const double groupWidth = 0.8;
        double barWidth = groupWidth / series.Count;
        var bars = new List<Bar>();
        foreach (Figure r in rows)
        {
            int g = groups.IndexOf(r.Group), s = series.IndexOf(r.Series);
            if (spec.Horizontal)
            {
                g = groups.Count - 1 - g; // the file's first group on top
            }
            bars.Add(new Bar
            {
                Position = g - groupWidth / 2 + barWidth * (s + 0.5),
                Value = r.Value,
                Size = barWidth * 0.92,
                FillColor = ColorOf(r.Series),
                Label = Format(r.Value),
            });
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        barPlot.Horizontal = spec.Horizontal;
        double[] positions = Enumerable.Range(0, groups.Count).Select(i => (double)i).ToArray();
        string[] labels = spec.Horizontal ? Enumerable.Reverse(groups).ToArray() : groups.ToArray();
        var ticks = new ScottPlot.TickGenerators.NumericManual(positions, labels);
        IAxis categories = spec.Horizontal ? plot.Axes.Left : plot.Axes.Bottom;
        categories.TickGenerator = ticks;
        categories.MajorTickStyle.Length = 0;
        if (series.Count > 1)
        {
            for (int s = 0; s < series.Count; s++)
            {
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = ColorOf(series[s]) });
            }
            plot.Legend.IsVisible = true;
            plot.Legend.Alignment = Alignment.UpperRight;
        }
        if (spec.Reference is double reference)
        {
            ScottPlot.Plottables.AxisLine line = spec.Horizontal ? plot.Add.VerticalLine(reference) : plot.Add.HorizontalLine(reference);
            line.LineColor = Colors.Black.WithAlpha(0.6);
            line.LinePattern = LinePattern.Dashed;
        }
        plot.Title(spec.Title);
        string unit = spec.ReferenceLabel is null ? spec.Unit : $"{spec.Unit} (dashed line: {spec.ReferenceLabel})";
        if (spec.Horizontal)
        {
            plot.XLabel(unit);
            plot.Axes.Margins(left: 0, right: 0.12);
        }
        else
        {
            plot.YLabel(unit);
            plot.Axes.Margins(bottom: 0, top: 0.15);
        }
        plot.HideGrid();
        return plot;
    }

    private static string Format(double value) => value switch
    {
        >= 1_000 => value.ToString("N0", CultureInfo.InvariantCulture),
        >= 100 => value.ToString("F0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }
        fields.Add(current.ToString());
        return fields;
    }

    private static string FindRoot()
    {
        for (string? dir = Directory.GetCurrentDirectory(); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "NetStack.sln")))
            {
                return dir;
            }
        }
        throw new InvalidOperationException("run `Bench report` inside the repository (NetStack.sln not found above the current directory)");
    }
}
