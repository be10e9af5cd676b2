// `netstack run`: writing the sandbox's uid and gid maps from the host side (user_namespaces(7)): by default the
// caller alone, mapped to root (setgroups denied first, as an unprivileged writer must); with --uid-map also the
// caller's subordinate ranges from /etc/subuid and /etc/subgid, through the setuid newuidmap/newgidmap.
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace NetStack.Cli.Run;

/// <summary>A subordinate id range (a line of /etc/subuid or /etc/subgid).</summary>
internal readonly record struct SubordinateRange(long Start, long Count);

/// <summary>Everything --uid-map needs, found before any namespace exists.</summary>
internal sealed record SubordinateMapPlan(string NewUidMap, string NewGidMap, SubordinateRange Uids, SubordinateRange Gids);

/// <summary>Writes the id maps of a process's new user namespace.</summary>
internal static class UserNamespaceMaps
{
    /// <summary>Maps the caller (<paramref name="uid"/>, <paramref name="gid"/>) to root in <paramref name="pid"/>'s user namespace.</summary>
    public static void MapCallerToRoot(int pid, uint uid, uint gid)
    {
        // An unprivileged process may write one line mapping its own ids, and a gid map only after denying setgroups.
        WriteOnce($"/proc/{pid}/setgroups", "deny");
        WriteOnce($"/proc/{pid}/uid_map", $"0 {uid} 1\n");
        WriteOnce($"/proc/{pid}/gid_map", $"0 {gid} 1\n");
    }

    /// <summary>
    /// Finds newuidmap, newgidmap and the caller's ranges; null with <paramref name="error"/> (naming the fix) when
    /// something is missing.
    /// </summary>
    public static SubordinateMapPlan? Plan(string user, uint uid, uint gid, out string? error, string subuid = "/etc/subuid", string subgid = "/etc/subgid")
    {
        error = null;
        string? newUidMap = CommandLookup.Which("newuidmap"), newGidMap = CommandLookup.Which("newgidmap");
        if (newUidMap is null || newGidMap is null)
        {
            error = RunDiagnostics.IdMapToolMissing(newUidMap is null ? "newuidmap" : "newgidmap");
            return null;
        }
        if (FindRange(subuid, user, uid) is not { } uids)
        {
            error = RunDiagnostics.NoSubordinateRange(subuid, user);
            return null;
        }
        if (FindRange(subgid, user, gid) is not { } gids)
        {
            error = RunDiagnostics.NoSubordinateRange(subgid, user);
            return null;
        }
        return new SubordinateMapPlan(newUidMap, newGidMap, uids, gids);
    }

    /// <summary>
    /// Maps the caller to root and ids 1…count to the subordinate range, with newuidmap and newgidmap; null on
    /// success, else what they said.
    /// </summary>
    public static string? MapSubordinate(SubordinateMapPlan plan, int pid, uint uid, uint gid)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Run(plan.NewUidMap, pid, uid, plan.Uids) ?? Run(plan.NewGidMap, pid, gid, plan.Gids);

        static string? Run(string tool, int pid, uint id, SubordinateRange range)
        {
            var start = new ProcessStartInfo(tool)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (object value in new object[] { pid, 0, id, 1, 1, range.Start, range.Count })
            {
                start.ArgumentList.Add(Convert.ToString(value, CultureInfo.InvariantCulture)!);
            }
            using Process process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? null : $"{Path.GetFileName(tool)} {string.Join(' ', start.ArgumentList)}: {output.Trim()} (exit {process.ExitCode})";
        }
    }

    /// <summary>The first range of <paramref name="user"/> (by name or by number) in a subuid/subgid file, or null.</summary>
    public static SubordinateRange? FindRange(string file, string user, uint id)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        string number = id.ToString(CultureInfo.InvariantCulture);
        foreach (string line in lines)
        {
            string[] fields = line.Split(':');
            if (fields.Length == 3 && (fields[0] == user || fields[0] == number)
                && long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long start)
                && long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out long count) && count > 0)
            {
                return new SubordinateRange(start, count);
            }
        }
        return null;
    }

    // A map file takes exactly one write(2).
    private static void WriteOnce(string path, string text)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, Encoding.ASCII.GetBytes(text), 0);
    }
}
