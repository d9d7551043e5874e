using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tests.Cli;
using PrefixLab.Tests.Interop;
using PrefixLab.Training;
using PrefixLab.Tuning;
using SkiaSharp;
using static TorchSharp.torch;

using PrefixLab.Tests.Tuning;

namespace PrefixLab.Tests.Analysis;

/// <summary>
/// C1's completion count against one-row-at-a-time generation without the cache, and the commands
/// (completions, attention with GPT-2 token strings) as a user runs them.
/// </summary>
public class CompletionCountTests
{
    private static readonly int[] Prompt = [3, 5];

    [Fact]
    public void The_real_count_equals_a_per_token_loop()
    {
        using var model = Model();
        // A batch that does not divide V, so the last batch is short.
        var batched = CompletionCount.Real(model, Prompt, 4, batch: 7);
        var single = Enumerable.Range(0, 40).Select(t => Continue(model, [t, .. Prompt], 4)).ToList();

        Assert.Equal(single, batched);
        var tally = CompletionCount.Tally(batched);
        Assert.Equal(40, tally.Tried);
        Assert.Equal(single.Select(s => string.Join(',', s)).Distinct().Count(), tally.Distinct);
        Assert.Equal(single.Count(s => s.SequenceEqual(tally.MostCommon)), tally.MostCommonCount);
        Assert.True(tally.Distinct > 1, "a random model should not map every token to one continuation");
    }

    [Fact]
    public void Virtual_tokens_give_the_continuations_their_adapters_give_one_at_a_time()
    {
        using var model = Model();
        string dir = TestModels.TempDirectory();
        var paths = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            paths.Add(SaveAdapter(model, dir, i < 4 ? "soft-prompt" : "prefix", i));
        }
        // A copy is another adapter with the same vector: it cannot add a continuation.
        File.Copy(paths[0], Path.Combine(dir, "copy.safetensors"));
        paths.Add(Path.Combine(dir, "copy.safetensors"));

        var tokens = CompletionCount.LoadAdapters(model, paths);
        var batched = CompletionCount.Virtual(model, tokens, Prompt, 4, batch: 2);

        var expected = new List<int[]>();
        foreach (string path in paths)
        {
            var (method, _) = AdapterFile.Load(path, model);
            using (method)
            {
                expected.Add(Continue(model, [0, .. Prompt], 4));
            }
        }
        Assert.Equal(expected, batched);
        Assert.Equal(expected.Select(s => string.Join(',', s)).Distinct().Count(), CompletionCount.Tally(batched).Distinct);
        Assert.True(CompletionCount.Tally(batched).Distinct <= 5);
    }

    [Fact]
    public void A_virtual_token_holding_a_real_tokens_embedding_continues_as_that_token()
    {
        using var model = Model();
        var real = CompletionCount.Real(model, Prompt, 3);
        var embedded = Enumerable.Range(0, 40).Select(t =>
        {
            using var tokenRow = tensor(new long[] { t }).view(1, 1);
            using var row = model.Embed(tokenRow).view(1, -1);
            var values = row.data<float>().ToArray();
            var grid = new float[1, values.Length];
            Buffer.BlockCopy(values, 0, grid, 0, values.Length * sizeof(float));
            return new VirtualToken($"token {t}", "soft-prompt", grid);
        }).ToList();

        Assert.Equal(real, CompletionCount.Virtual(model, embedded, Prompt, 3, batch: 16));
    }

    [Fact]
    public void Virtual_tokens_trained_together_learn_their_targets_as_if_trained_one_by_one()
    {
        using var model = Model();
        int[][] targets = [[1, 2, 3], [7, 7, 0], [39, 5, 20], [4, 4, 4]];
        var options = new TrainOptions { Iterations = 150, LearningRate = 0.1, Seed = 1 };
        var before = model.parameters().Select(p => p.clone()).ToList();

        var together = CompletionCount.TrainVirtual(model, targets, [], options);
        // The start comes from the seed alone: a second run ends at the same vectors.
        Assert.Equal(together[2].Vectors, CompletionCount.TrainVirtual(model, targets, [], options)[2].Vectors);
        // No prompt: each virtual token alone in front. Random vectors would get about 1 token in 40 right.
        var continued = CompletionCount.Virtual(model, together, [], 3);
        int right = continued.Zip(targets, (c, t) => c.Zip(t, (a, b) => a == b ? 1 : 0).Sum()).Sum();
        Assert.True(right >= 9, $"{right} of 12 target tokens");
        // The model stays frozen, and trainable again afterwards.
        Assert.All(model.parameters().Zip(before), p => Assert.True(TestModels.Same(p.First, p.Second)));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));

        // Each row gets the gradient of its own loss and Adam treats every element alone, so training
        // one target at a time from the same start ends at the same vector and continuation. Only float
        // rounding differs (sums over another batch), which Adam's normalised steps carry on: measured,
        // about 1e-3 after 150 steps of 0.1, against vectors that moved by several units.
        using var generator = new Generator(options.Seed);
        using var start = randn([targets.Length, 32], generator: generator); // the joint run's start
        for (int i = 0; i < targets.Length; i++)
        {
            using var row = start[i..(i + 1)];
            var alone = CompletionCount.TrainVirtual(model, [targets[i]], [], options, start: row);
            double largest = Enumerable.Range(0, 32).Max(k => Math.Abs(together[i].Vectors[0, k] - alone[0].Vectors[0, k]));
            Assert.True(largest < 0.01, $"row {i}: largest difference {largest}");
            Assert.Equal(continued[i], CompletionCount.Virtual(model, alone, [], 3)[0]);
        }
    }

    [Fact]
    public void The_command_counts_both_and_refuses_bad_adapters_in_one_line()
    {
        string dir = TestModels.TempDirectory();
        string modelPath = Path.Combine(dir, "model.safetensors");
        using var model = Model();
        ModelFile.Save(modelPath, model, new ModelInfo(model.Config, 1));
        string virtualDir = Path.Combine(dir, "virtual");
        Directory.CreateDirectory(virtualDir);
        var paths = Enumerable.Range(0, 3).Select(i => SaveAdapter(model, virtualDir, "soft-prompt", i)).ToList();

        var (code, stdout, stderr) = CliTests.Run("completions", "--model", modelPath, "--virtual-from", virtualDir, "--input", "3 5", "--length", "4", "--json");
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout))
        {
            var root = json.RootElement;
            Assert.Equal(40, root.GetProperty("real").GetProperty("tried").GetInt32());
            Assert.Equal(CompletionCount.Tally(CompletionCount.Real(model, Prompt, 4)).Distinct, root.GetProperty("real").GetProperty("distinct").GetInt32());
            Assert.Equal(3, root.GetProperty("virtual").GetProperty("tried").GetInt32());
            Assert.Equal(3, root.GetProperty("continuations").GetArrayLength());
        }

        (code, stdout, stderr) = CliTests.Run("completions", "--model", modelPath, "--adapters", string.Join(',', paths), "--length", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("single real tokens:    ", stdout);
        Assert.Contains("distinct from 3 adapters (3 soft-prompt)", stdout);

        string lora = SaveAdapter(model, dir, "lora", 0);
        string wide = SaveAdapter(model, dir, "soft-prompt", 0, prefixSize: 2);
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--adapters", Path.Combine(dir, "missing.safetensors")], "adapter file not found"),
            (["--adapters", lora], "completions needs one virtual token"),
            (["--adapters", wide], "with P = 2"),
            (["--virtual-from", Path.Combine(dir, "nowhere")], "directory not found"),
            (["--input", "3 99"], "prompt tokens must be between 0 and 39"),
            (["--prompt", "hello"], "--prompt needs a tokenizer"),
            (["--length", "40"], "positions, the model has 16"),
        })
        {
            (code, _, stderr) = CliTests.Run(["completions", "--model", modelPath, .. args]);
            Assert.Equal(2, code);
            Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
    }

    [SkippableFact]
    public void Attention_on_a_gpt2_directory_labels_tokens_with_their_strings_and_completions_reads_a_prompt()
    {
        PythonGpt2.SkipUnlessAvailable();
        string checkpoint = PythonGpt2.SmallCheckpoint;
        string dir = TestModels.TempDirectory();
        string png = Path.Combine(dir, "maps.png"), csv = Path.Combine(dir, "maps.csv");
        const string prompt = "the cat sat, on the mat";

        var (code, stdout, stderr) = CliTests.Run("attention", "--model", checkpoint, "--prompt", prompt, "--out", png, "--csv", csv, "--layer", "0", "--head", "1");
        Assert.True(code == 0, stderr);
        using (var bitmap = SKBitmap.Decode(png))
        {
            Assert.Equal((480, 480), (bitmap.Width, bitmap.Height));
        }
        var tokenizer = Gpt2Tokenizer.Load(checkpoint);
        var ids = tokenizer.Encode(prompt);
        // Query q's label, from the rows whose key is 0; the input comes first (no prefix, no padding).
        var labels = File.ReadAllLines(csv).Skip(1).Select(ParseCsv).Where(f => f[4] == "0").Select(f => f[3]).ToList();
        Assert.Equal(2 * ids.Length, labels.Count); // the input and as many generated tokens
        Assert.Equal(ids.Select(i => tokenizer.Decode([i])), labels.Take(ids.Length));
        Assert.Contains(labels, l => l.StartsWith(' ')); // GPT-2 tokens carry their spaces, quoted in the CSV
        Assert.Contains(labels, l => !int.TryParse(l, out _));

        (code, stdout, stderr) = CliTests.Run("completions", "--model", checkpoint, "--prompt", "the cat", "--length", "3", "--batch", "64", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(tokenizer.Encode("the cat").Select(i => (long)i), HuggingFaceGpt2Tests.Ids(json.RootElement.GetProperty("prompt_ids")));
        Assert.Equal(300, json.RootElement.GetProperty("real").GetProperty("tried").GetInt32());
        // Every one of the 300 real tokens before the prompt, continued again one token at a time.
        var (gpt2, _) = HuggingFaceGpt2.Load(checkpoint);
        using (gpt2)
        {
            gpt2.eval();
            var catIds = tokenizer.Encode("the cat");
            int distinct = Enumerable.Range(0, 300).Select(t => string.Join(' ', GreedyReference.Continue(gpt2, [t, .. catIds], 3))).Distinct().Count();
            Assert.Equal(distinct, json.RootElement.GetProperty("real").GetProperty("distinct").GetInt32());
        }
    }

    /// <summary>
    /// A random model with 40 tokens whose matrices are scaled from minGPT's std 0.02 to 0.2 (as
    /// make_gpt2.py does): at 0.02 the first token barely moves the logits and every row continues alike.
    /// </summary>
    private static Gpt Model()
    {
        var model = new Gpt(new GptConfig(40, 16, 2, 2, 32), 3);
        using (no_grad())
        {
            foreach (var parameter in model.parameters().Where(p => p.dim() == 2))
            {
                parameter.mul_(10);
            }
        }
        model.eval();
        return model;
    }

    /// <summary>Greedy continuation of one sequence, recomputing every position (no cache, no batch).</summary>
    private static int[] Continue(Gpt model, long[] sequence, int length)
    {
        using var input = tensor(sequence).view(1, -1);
        using var generated = Generation.Greedy(model, input, length, useCache: false);
        return [.. generated.data<long>().ToArray().Select(t => (int)t)];
    }

    private static string SaveAdapter(Gpt model, string dir, string method, int seed, int prefixSize = 1)
    {
        string path = Path.Combine(dir, $"{method}-{prefixSize}-{seed}.safetensors");
        random.manual_seed(seed);
        var settings = TestSettings.For(method, prefixSize: prefixSize, initStd: 3.0);
        using var adapter = TuningMethods.Create(method, model, settings);
        AdapterFile.Save(path, adapter, new AdapterInfo(method, settings, AdapterFile.Fingerprint(model), prefixSize, null, 0));
        return path;
    }

    /// <summary>Splits one CSV line, honouring RFC 4180 quotes.</summary>
    private static List<string> ParseCsv(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted && c == '"' && i + 1 < line.Length && line[i + 1] == '"')
            {
                field.Append('"');
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }
        fields.Add(field.ToString());
        return fields;
    }
}
