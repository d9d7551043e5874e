using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

namespace PrefixLab.Tests.Workflows;

/// <summary>
/// The C# example of docs/usage.md ("The workflows from C#") runs as written: the test holds the same
/// lines, checks they are the page's, and runs them on a small pretrained base.
/// </summary>
public class UsageExampleTests
{
    private const string Begin = "// docs/usage.md example begins";
    private const string End = "// docs/usage.md example ends";

    [Fact]
    public void The_tune_example_of_the_usage_page_is_the_code_this_test_runs()
    {
        string page = File.ReadAllText(Path.Combine(TestModels.AboveTestBinaries("docs", Directory.Exists), "usage.md"));
        int heading = page.IndexOf("## The workflows from C#", StringComparison.Ordinal);
        Assert.True(heading >= 0, "docs/usage.md has no section 'The workflows from C#'");
        int start = page.IndexOf("```csharp\n", heading, StringComparison.Ordinal) + "```csharp\n".Length;
        string example = page[start..page.IndexOf("```", start, StringComparison.Ordinal)];
        // The page's lines after its usings and the two paths are this file's, line for line.
        var pageLines = Lines(example).SkipWhile(l => !l.StartsWith("string basePath", StringComparison.Ordinal)).Skip(1).ToList();

        string source = File.ReadAllText(Path.Combine(TestModels.AboveTestBinaries("tests", Directory.Exists), "PrefixLab.Tests", "Workflows", "UsageExampleTests.cs"));
        int from = source.IndexOf(Begin + "\n", StringComparison.Ordinal) + Begin.Length;
        var testLines = Lines(source[from..source.IndexOf(End + "\n", from, StringComparison.Ordinal)]).ToList();
        Assert.NotEmpty(pageLines);
        Assert.Equal(pageLines, testLines);
        Assert.Contains("using PrefixLab.Workflows;", example, StringComparison.Ordinal);
    }

    [Fact]
    public void The_tune_example_trains_saves_and_scores_the_saved_adapter_as_trained()
    {
        string dir = TestModels.TempDirectory();
        string basePath = Path.Combine(dir, "ascending.safetensors"), adapterPath = Path.Combine(dir, "prefix.safetensors");
        var config = new GptConfig(11, SequenceLayout.For(TaskRegistry.Default.Get("ascending"), 1).ContextLength, 1, 1, 16);
        PretrainWorkflow.Run(new PretrainRequest(config, TaskRegistry.Default.Get("ascending"), 1, new TrainOptions { Iterations = 20 }, basePath));
        var output = new StringWriter();
        var console = Console.Out;
        Console.SetOut(output);
        try
        {
            // docs/usage.md example begins
            var descending = TaskData.Of(TaskRegistry.Default.Get("descending"));
            var (model, info) = ModelFile.Load(basePath);
            using (model)
            using (var tune = TuneWorkflow.Attach(model, info, "prefix", new PromptSettings { PrefixSize = info.PrefixSize }, seed: 1))
            {
                var request = new TuneRequest(descending, tune.Options(steps: 200), adapterPath) { FinalEvalSamples = 500 };
                var result = tune.Run(request, (stage, step) => Console.WriteLine(step is null ? stage : $"step {step.Step}: loss {step.Loss:F3}"));
                Console.WriteLine($"saved {adapterPath} after {result.Steps} steps: {result.Evaluation!.Accuracy:P1} on descending");
            }
            var scores = EvaluateWorkflow.Run(new EvaluateRequest(basePath, [descending]) { Adapter = adapterPath, Samples = 500 });
            Console.WriteLine($"the saved adapter: {scores[0].Accuracy:P1}");
            // docs/usage.md example ends
        }
        finally
        {
            Console.SetOut(console);
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("tune prefix on descending: 16 trainable parameters", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("step 200: loss ", StringComparison.Ordinal));
        var info2 = AdapterFile.ReadInfo(adapterPath);
        Assert.Equal(("prefix", 200L, "descending"), (info2.Method, info2.Steps, info2.Task));
        // The accuracy the run reported after training is the saved adapter's.
        string trained = lines.Single(l => l.StartsWith("saved ", StringComparison.Ordinal));
        string saved = lines.Single(l => l.StartsWith("the saved adapter: ", StringComparison.Ordinal));
        Assert.EndsWith($"after 200 steps: {saved["the saved adapter: ".Length..]} on descending", trained);
    }

    private static IEnumerable<string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("//", StringComparison.Ordinal));
}
