using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace PrefixLab.Tests.Packaging;

/// <summary>
/// PrefixLab as a .NET user gets it: <c>dotnet pack</c> run on a copy of this checkout's sources, with a
/// prerelease version of its own (so a package of another run can never be picked up), and the tool
/// <c>prefixlab</c> installed from that package into a temporary folder. Everything runs offline: the
/// tool needs no other package, and the console apps built against the library take its dependencies
/// (TorchSharp, …) from the machine's NuGet cache. On disposal the temporary folder and this version's
/// entries in the NuGet cache go.
/// </summary>
public sealed partial class PackedPrefixLab : IDisposable
{
    private readonly string globalPackages;

    public PackedPrefixLab()
    {
        Root = TestModels.TempDirectory();
        Repository = Path.GetDirectoryName(TestModels.AboveTestBinaries("Directory.Build.props", File.Exists))!;
        VersionPrefix = XDocument.Load(Path.Combine(Repository, "Directory.Build.props")).Descendants("VersionPrefix").Single().Value;
        Version = $"{VersionPrefix}-test{Guid.NewGuid():N}";
        globalPackages = GlobalPackagesFolder();

        string sources = Path.Combine(Root, "sources");
        CopySources(Repository, sources);
        Packages = Path.Combine(Root, "packages");
        string suffix = Version[(VersionPrefix.Length + 1)..];
        Dotnet(sources, "pack", "src/PrefixLab.Cli", "-c", "Release", "-o", Packages, "--version-suffix", suffix);
        Dotnet(sources, "pack", "src/PrefixLab", "-c", "Release", "-o", Packages, "--version-suffix", suffix, "--no-build");

        NuGetConfig = Path.Combine(Root, "nuget.config");
        File.WriteAllText(NuGetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="prefixlab-test" value="{Packages}" />
              </packageSources>
            </configuration>
            """);
        string tools = Path.Combine(Root, "tools");
        // The tool package holds everything it runs with, so a cache of its own keeps the machine's clean.
        Dotnet(Root, ["tool", "install", "--tool-path", tools, "--configfile", NuGetConfig, "PrefixLab.Cli", "--version", Version],
            ("NUGET_PACKAGES", Path.Combine(Root, "tool-cache")));
        Tool = Path.Combine(tools, "prefixlab");
    }

    /// <summary>A temporary folder for this run's packages, tool and apps.</summary>
    public string Root { get; }

    /// <summary>The checkout whose sources were packed.</summary>
    public string Repository { get; }

    /// <summary>The version in Directory.Build.props.</summary>
    public string VersionPrefix { get; }

    /// <summary>The version the packages were made with: <see cref="VersionPrefix"/> and a unique suffix.</summary>
    public string Version { get; }

    /// <summary>The folder <c>dotnet pack</c> wrote the packages to.</summary>
    public string Packages { get; }

    /// <summary>A NuGet configuration whose only source is <see cref="Packages"/>.</summary>
    public string NuGetConfig { get; }

    /// <summary>The installed <c>prefixlab</c> command.</summary>
    public string Tool { get; }

    /// <summary>Runs a program to its end; fails the test with its output unless it exits with 0.</summary>
    public static string Run(string program, string directory, IEnumerable<string> args, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The test host runs under `dotnet test`, whose MSBuild settings must not leak into a user's build.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(20)), $"{program} {string.Join(' ', args)} did not end in 20 minutes");
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} exited with {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    /// <summary>Runs <c>dotnet</c> with build servers off, so no compiler or MSBuild node outlives the test.</summary>
    public static string Dotnet(string directory, params string[] args) => Dotnet(directory, args, []);

    private static string Dotnet(string directory, string[] args, params (string Name, string Value)[] environment)
    {
        string[] servers = args[0] is "build" or "pack" or "run" ? ["--disable-build-servers"] : [];
        return Run("dotnet", directory, [.. args, .. servers], environment);
    }

    /// <summary>
    /// A new console app in <paramref name="directory"/> (what <c>dotnet new console</c> writes, written here so
    /// no template is needed) with <paramref name="program"/> as its Program.cs and the given references.
    /// </summary>
    public void WriteConsoleApp(string directory, string program, string references)
    {
        Directory.CreateDirectory(directory);
        File.Copy(NuGetConfig, Path.Combine(directory, "nuget.config"), overwrite: true);
        File.WriteAllText(Path.Combine(directory, Path.GetFileName(directory) + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                {references}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(directory, "Program.cs"), program);
    }

    /// <summary>The C# code blocks of the README's "From C#" section, as the README has them.</summary>
    public static IReadOnlyList<string> ReadmeExamples(string repository)
    {
        string readme = File.ReadAllText(Path.Combine(repository, "README.md"));
        int start = readme.IndexOf("\n## From C#", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no \"## From C#\" section");
        int end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        string section = end < 0 ? readme[start..] : readme[start..end];
        return [.. CSharpBlock().Matches(section).Select(m => m.Groups[1].Value)];
    }

    public void Dispose()
    {
        foreach (var id in new[] { "prefixlab", "prefixlab.cli", "prefixlab.cli.linux-x64" })
        {
            string entry = Path.Combine(globalPackages, id, Version.ToLowerInvariant());
            if (Directory.Exists(entry))
            {
                Directory.Delete(entry, recursive: true);
            }
        }
        Directory.Delete(Root, recursive: true);
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    private static string GlobalPackagesFolder()
    {
        string listed = Run("dotnet", Path.GetTempPath(), ["nuget", "locals", "global-packages", "--list"]);
        return listed[(listed.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }

    /// <summary>What packing needs, without any build output: the sources as a fresh clone has them.</summary>
    private static void CopySources(string repository, string target)
    {
        foreach (var file in new[] { "Directory.Build.props", "Directory.Build.targets", ".editorconfig", "global.json" })
        {
            if (File.Exists(Path.Combine(repository, file)))
            {
                Directory.CreateDirectory(target);
                File.Copy(Path.Combine(repository, file), Path.Combine(target, file));
            }
        }
        foreach (var folder in new[] { "build", "src", "experiments" })
        {
            CopyFolder(Path.Combine(repository, folder), Path.Combine(target, folder));
        }
    }

    private static void CopyFolder(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        foreach (var folder in Directory.GetDirectories(source).Where(d => Path.GetFileName(d) is not ("bin" or "obj")))
        {
            CopyFolder(folder, Path.Combine(target, Path.GetFileName(folder)));
        }
    }

    /// <summary>One line per line of <paramref name="text"/>, for output checks.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

}
