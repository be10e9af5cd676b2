// What a package user does first, done for real: pack every package into a local folder, create a fresh project
// outside the repository that references them by version, build it and run README's first-stack example over two
// stacks; then install the CLI with `dotnet tool install` from the same folder and run it.
using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

using NetStack.Tests.Support;

namespace NetStack.Tests;

public class PackageTests
{
    private static readonly string[] Packages = ["NetStack", "NetStack.Gro", "NetStack.Link", "NetStack.Testing", "NetStack.AspNetCore", "NetStack.Proxy", "NetStack.Simulation", "NetStack.Cli"];

    [Fact(Timeout = 600_000)]
    public async Task Packages_PackedToAFolder_AFreshProjectReferencingThemByVersion_BuildsAndRunsTwoStacks()
    {
        string root = RepositoryPaths.Root();
        string work = Directory.CreateTempSubdirectory("netstack-packages-").FullName;
        // A version no cache has seen: restore must take these packages from the folder, not from an earlier run.
        string version = $"0.1.0-packtest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string feed = Path.Combine(work, "feed");
        try
        {
            // The suite runs after a Release build of the solution, so packing needs no second build.
            await RunAsync(root, "dotnet", "pack", Path.Combine(root, "NetStack.sln"), "-c", "Release", "--no-build", "-o", feed, $"-p:Version={version}");
            foreach (string id in Packages)
            {
                string nupkg = Path.Combine(feed, $"{id}.{version}.nupkg");
                Assert.True(File.Exists(nupkg), $"{id} was not packed");
                Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), $"{id} has no symbols package");
                AssertMetadata(nupkg, id);
            }

            string app = Path.Combine(work, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(work, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="netstack-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="NetStack.Link" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            // The program is README's first-stack block as a user would paste it, plus one line that shows the reply.
            string[] readme = File.ReadAllLines(Path.Combine(root, "README.md"));
            int marker = Array.IndexOf(readme, "<!-- first-stack: Tests/ReadmeTests.cs -->");
            int end = Array.IndexOf(readme, "```", marker + 2);
            File.WriteAllLines(Path.Combine(app, "Program.cs"), [.. readme[(marker + 2)..end], "Console.WriteLine($\"reply: {reply}\");"]);

            string output = await RunAsync(app, "dotnet", "run", "-c", "Release");
            Assert.Contains("reply: hello", output, StringComparison.Ordinal);

            // The CLI as a .NET tool, from the same folder.
            string tools = Path.Combine(work, "tools");
            await RunAsync(work, "dotnet", "tool", "install", "NetStack.Cli", "--version", version, "--tool-path", tools, "--add-source", feed);
            string demo = await RunAsync(work, Path.Combine(tools, "netstack"), "demo", "--download", "1M", "--upload", "1M", "--requests", "5", "--close-requests", "2", "--no-progress");
            Assert.Contains("every SHA-256 matched (2 bodies)", demo, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
            // Restore extracted this run's packages into the global cache; a unique version is never used again.
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string id in Packages)
            {
                string cached = Path.Combine(cache, id.ToLowerInvariant(), version);
                if (Directory.Exists(cached))
                {
                    Directory.Delete(cached, recursive: true);
                }
            }
        }
    }

    /// <summary>The nuspec of a package carries what a package page shows: description, readme, licence, tags, repository.</summary>
    private static void AssertMetadata(string nupkg, string id)
    {
        using ZipArchive zip = ZipFile.OpenRead(nupkg);
        ZipArchiveEntry nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using Stream stream = nuspecEntry.Open();
        XElement metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? "";
        Assert.Equal(id, Field("id"));
        Assert.False(string.IsNullOrWhiteSpace(Field("description")), $"{id}: description");
        Assert.Equal("README.md", Field("readme"));
        Assert.NotNull(zip.GetEntry("README.md"));
        Assert.Equal("MIT", Field("license"));
        Assert.False(string.IsNullOrWhiteSpace(Field("tags")), $"{id}: tags");
        XElement? repository = metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "repository");
        Assert.True(repository?.Attribute("type")?.Value == "git", $"{id}: repository metadata");
    }

    private static async Task<string> RunAsync(string directory, string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}:\n{output}");
        return output;
    }
}
