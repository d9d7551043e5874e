using System.Text.Json;
using PrefixLab.Tuning;
using PrefixLab.Interop;
using PrefixLab.Tests.Interop;

namespace PrefixLab.Tests.Cli;

/// <summary>The commands of "Using your own GPT-2", run as a user would, on a reference checkpoint.</summary>
public class Gpt2CliTests
{
    [SkippableFact]
    public void Generate_continues_the_prompt_exactly_as_the_reference_does()
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var reference = PythonGpt2.Reference(dir);
        string prompt = reference.GetProperty("tokenize")[1].GetProperty("text").GetString()!;
        var ids = HuggingFaceGpt2Tests.Ids(reference.GetProperty("tokenize")[1].GetProperty("ids"));
        var expected = reference.GetProperty("greedy").EnumerateArray().First(g => HuggingFaceGpt2Tests.Ids(g.GetProperty("ids")).SequenceEqual(ids));
        long[] newIds = HuggingFaceGpt2Tests.Ids(expected.GetProperty("new"));

        var (code, stdout, stderr) = CliTests.Run("generate", "--model", dir, "--prompt", prompt, "--max-new", newIds.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(ids, HuggingFaceGpt2Tests.Ids(json.RootElement.GetProperty("prompt_ids")));
        var got = HuggingFaceGpt2Tests.Ids(json.RootElement.GetProperty("new_ids"));
        int end = Array.IndexOf(newIds, 299L); // generation stops at <|endoftext|>
        Assert.Equal(end < 0 ? newIds : newIds[..end], got);

        (code, stdout, stderr) = CliTests.Run("generate", "--model", dir, "--prompt", prompt, "--max-new", "3");
        Assert.True(code == 0, stderr);
        Assert.StartsWith(prompt, stdout);
    }

    [SkippableFact]
    public void A_text_task_tunes_to_a_peft_adapter_that_eval_and_generate_use()
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        string work = TestModels.TempDirectory();
        string data = Path.Combine(work, "emotion.csv");
        File.WriteAllLines(data, ["text,label,split", .. Enumerable.Range(0, 12).Select(i => $"the cat sat {i},{(i % 2 == 0 ? "joy" : "anger")},{(i < 8 ? "train" : "test")}")]);
        string adapter = Path.Combine(work, "kv");

        var (code, stdout, stderr) = CliTests.Run("tune", "--model", dir, "--data", data, "--method", "prefix-kv", "--prefix-size", "2", "--iters", "3", "--batch", "4", "--format", "peft", "--out", adapter);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(adapter, PeftFormat.ConfigFile)), stdout);
        Assert.True(File.Exists(Path.Combine(adapter, PeftFormat.WeightsFile)));

        (code, stdout, stderr) = CliTests.Run("eval", "--model", dir, "--data", data, "--adapter", adapter, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(4, json.RootElement.GetProperty("samples").GetInt32());

        (code, _, stderr) = CliTests.Run("generate", "--model", dir, "--adapter", adapter, "--prompt", "TEXT: the cat EMOTION:", "--max-new", "2");
        Assert.True(code == 0, stderr);
    }

    [Theory]
    [InlineData("generate --model nowhere --prompt hi", "file not found")]
    [InlineData("eval --model nowhere --task ascending --data x.csv", "either --task NAME or --data FILE")]
    [InlineData("tune --model nowhere --method lora --task ascending --out o --format onnx", "--format must be prefixlab, peft or hf")]
    public void Bad_input_gives_one_line_and_exit_code_2(string args, string expected)
    {
        var (code, _, stderr) = CliTests.Run(args.Split(' '));
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }
}
