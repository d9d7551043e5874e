using System.Text.RegularExpressions;

namespace PrefixLab.Tests;

/// <summary>
/// The library's layers (docs/architecture.md): each namespace imports only the ones below it, so the
/// folders can be read, tested and replaced from the bottom up and no change ripples in a circle.
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>Bottom to top. A namespace may use any namespace before it in this list, never one after.</summary>
    private static readonly string[] Layers =
    [
        "Util", "Model", "Tasks", "Interop", "Evaluation", "Training", "Tuning", "Analysis", "Constructions",
        "Workflows", "Experiments", "Reporting", "Benchmarks",
    ];

    [Fact]
    public void Every_namespace_imports_only_the_layers_below_it()
    {
        string library = TestModels.AboveTestBinaries(Path.Combine("src", "PrefixLab"), Directory.Exists);
        var upward = new List<string>();
        int files = 0;
        foreach (var file in Directory.EnumerateFiles(library, "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            string text = File.ReadAllText(file);
            var ns = NamespaceLine().Match(text);
            Assert.True(ns.Success, $"{file} has no file-scoped PrefixLab namespace");
            files++;
            if (ns.Groups[1].Value.Length == 0)
            {
                continue; // the root namespace (PrefixLabException) sits below every layer
            }
            string own = ns.Groups[1].Value;
            int level = Array.IndexOf(Layers, own);
            Assert.True(level >= 0, $"{file}: namespace PrefixLab.{own} is not in the list of layers");
            var used = Imports().Matches(text).Select(m => m.Groups[1].Value)
                .Concat(Qualified().Matches(text).Select(m => m.Groups[1].Value))
                .Where(n => n != own && Layers.Contains(n))
                .Distinct();
            upward.AddRange(used.Where(n => Array.IndexOf(Layers, n) > level).Select(n => $"{Path.GetFileName(file)}: {own} uses {n}"));
        }
        Assert.True(files > 100, $"found only {files} source files under {library}");
        Assert.Empty(upward);
    }

    [Fact]
    public void The_check_sees_an_upward_import()
    {
        // The patterns above must catch both forms an upward use can take.
        Assert.Equal("Experiments", Imports().Match("using PrefixLab.Experiments;\n").Groups[1].Value);
        Assert.Equal("Tuning", Qualified().Match("var x = new Tuning.FullFineTune(model);").Groups[1].Value);
        Assert.Equal("Workflows", Qualified().Match("PrefixLab.Workflows.TuneWorkflow.Attach(").Groups[1].Value);
    }

    [GeneratedRegex(@"^namespace PrefixLab\.?(\w*);", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"^using (?:static )?PrefixLab\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex Imports();

    // A namespace-qualified use in code, e.g. Tuning.AdapterFile or PrefixLab.Tuning.AdapterFile (not in a comment's cref).
    [GeneratedRegex(@"(?<![\w"".])(?:PrefixLab\.)?(Util|Model|Tasks|Interop|Evaluation|Training|Tuning|Analysis|Constructions|Workflows|Experiments|Reporting|Benchmarks)\.[A-Z]\w*")]
    private static partial Regex Qualified();
}
