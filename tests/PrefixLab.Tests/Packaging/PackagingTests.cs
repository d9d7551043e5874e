using System.Globalization;
using System.Text.Json;
using PrefixLab.Tuning;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tests.Interop;

namespace PrefixLab.Tests.Packaging;

/// <summary>
/// The packages as a user meets them: the tool installed from its package prints the version of
/// Directory.Build.props and trains (so its TorchSharp native library loads on this machine), and each
/// C# example of the README, taken from README.md itself, builds in a new console app against the
/// library package and runs.
/// </summary>
public class PackagingTests(PackedPrefixLab packed) : IClassFixture<PackedPrefixLab>
{
    [Fact]
    public void The_installed_tool_prints_the_packed_version()
    {
        string stdout = PackedPrefixLab.Run(packed.Tool, packed.Root, ["--version"]);
        Assert.Equal(packed.Version, stdout.Trim());
        Assert.StartsWith(packed.VersionPrefix + "-", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_readme_has_the_two_examples_that_these_tests_run()
    {
        var examples = PackedPrefixLab.ReadmeExamples(packed.Repository);
        Assert.Equal(2, examples.Count);
        Assert.Contains("\"prefix\"", examples[0], StringComparison.Ordinal);
        Assert.Contains("PeftFormat.Save", examples[1], StringComparison.Ordinal);
    }

    /// <summary>
    /// The first example, in an app with a package reference to PrefixLab, tunes a prefix on the model that
    /// the installed tool pretrains as the README's tour does.
    /// </summary>
    [Fact]
    public void The_readme_prefix_example_runs_against_the_package_on_the_tools_model()
    {
        string app = Path.Combine(packed.Root, "prefix-example");
        Directory.CreateDirectory(app);
        PackedPrefixLab.Run(packed.Tool, app, ["pretrain", "--task", "ascending", "--layers", "1", "--heads", "1", "--width", "96", "--prefix-size", "1",
            "--iters", "100", "--checkpoint-every", "0", "--no-tensorboard", "--out", "runs/tour/up.safetensors"]);

        packed.WriteConsoleApp(app, PackedPrefixLab.ReadmeExamples(packed.Repository)[0], $"""<PackageReference Include="PrefixLab" Version="{packed.Version}" />""");
        PackedPrefixLab.Dotnet(app, "build", "-c", "Release");
        var lines = PackedPrefixLab.Lines(PackedPrefixLab.Run("dotnet", app, ["bin/Release/net10.0/prefix-example.dll"]));

        // Progress lines "STEP LOSS" up to step 1000, then the accuracy.
        var progress = lines[..^1].Select(l => l.Split(' ')).ToList();
        var steps = progress.Select(p => int.Parse(p[0], CultureInfo.InvariantCulture)).ToList();
        Assert.True(steps.Count >= 2 && steps.SequenceEqual(steps.Order()) && steps[^1] == 1000, $"steps: {string.Join(", ", steps)}");
        var losses = progress.Select(p => double.Parse(p[1], CultureInfo.InvariantCulture)).ToList();
        Assert.True(losses[^1] < losses[0], $"the prefix did not lower the loss: {string.Join(", ", losses)}");
        Assert.InRange(double.Parse(lines[^1], CultureInfo.InvariantCulture), 0, 1);
    }

    /// <summary>
    /// The second example, in an app that references PrefixLab only through a class library of its own,
    /// so the package's buildTransitive targets are what makes its native library load here.
    /// </summary>
    [Fact]
    public void The_readme_gpt2_example_runs_through_a_project_that_references_the_package()
    {
        string root = Path.Combine(packed.Root, "gpt2-example");
        string library = Path.Combine(root, "library");
        Directory.CreateDirectory(library);
        File.Copy(packed.NuGetConfig, Path.Combine(root, "nuget.config"));
        File.WriteAllText(Path.Combine(library, "library.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
              <ItemGroup><PackageReference Include="PrefixLab" Version="{packed.Version}" /></ItemGroup>
            </Project>
            """);
        string app = Path.Combine(root, "app");
        packed.WriteConsoleApp(app, PackedPrefixLab.ReadmeExamples(packed.Repository)[1], """<ProjectReference Include="../library/library.csproj" />""");
        WriteGpt2Folder(Path.Combine(app, "models", "gpt2"));
        File.WriteAllLines(Path.Combine(app, "emotion.jsonl"), Enumerable.Range(0, 16).Select(i =>
            JsonSerializer.Serialize(new { text = $"the cat sat on mat {i}", label = i % 2 == 0 ? "joy" : "anger", split = i < 12 ? "train" : "test" })));

        PackedPrefixLab.Dotnet(app, "build", "-c", "Release");
        var lines = PackedPrefixLab.Lines(PackedPrefixLab.Run("dotnet", app, ["bin/Release/net10.0/app.dll"]));

        // The 20 generated tokens (a random model's text, which may hold line breaks), then the accuracy.
        Assert.True(lines.Length >= 2, string.Join('\n', lines));
        Assert.InRange(double.Parse(lines[^1], CultureInfo.InvariantCulture), 0, 1);
        string adapter = Path.Combine(app, "runs", "emotion-prefix");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, PeftFormat.ConfigFile)));
        Assert.Equal("PREFIX_TUNING", config.RootElement.GetProperty("peft_type").GetString());
        Assert.Equal(10, config.RootElement.GetProperty("num_virtual_tokens").GetInt32());
        Assert.True(new FileInfo(Path.Combine(adapter, PeftFormat.WeightsFile)).Length > 0);
    }

    /// <summary>A small random GPT-2 with GPT-2's real tokenizer files: what "models/gpt2" is in the README.</summary>
    private static void WriteGpt2Folder(string directory)
    {
        using var model = new Gpt(new GptConfig(50257, 64, 1, 2, 16, TiedHead: true), seed: 7);
        LoaderFixtures.WriteHuggingFace(model, directory, shards: 1);
        foreach (var file in new[] { "vocab.json", "merges.txt" })
        {
            File.Copy(Path.Combine(RealGpt2Vocabulary.Directory, file), Path.Combine(directory, file));
        }
    }
}
