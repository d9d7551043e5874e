using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Tests.Cli;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>GPT-2 written in the Hugging Face layout, read back by PrefixLab and by the independent reference.</summary>
public class HuggingFaceGpt2WriterTests
{
    private const string AlicesPath = "/home/alice/models/gpt2";

    /// <summary>
    /// A copy of the small reference checkpoint whose config.json and tokenizer_config.json carry an
    /// absolute path of another machine, as files saved by transformers do.
    /// </summary>
    private static string CopyOfSmallCheckpoint(string parent, string name)
    {
        string dir = Path.Combine(parent, name);
        Directory.CreateDirectory(dir);
        foreach (var file in new[] { "config.json", "model.safetensors", "vocab.json", "merges.txt" })
        {
            File.Copy(Path.Combine(PythonGpt2.SmallCheckpoint, file), Path.Combine(dir, file));
        }
        var config = JsonFiles.ReadObject(Path.Combine(dir, "config.json"));
        config["_name_or_path"] = AlicesPath;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), $"{{\"name_or_path\": \"{AlicesPath}\", \"model_max_length\": 64}}");
        return dir;
    }

    private static float[] Logits(PrefixLab.Model.Gpt model, long[] ids)
    {
        using var noGrad = no_grad();
        using var input = tensor(ids, [1, ids.Length]);
        return model.Forward(input).flatten().data<float>().ToArray();
    }

    [SkippableFact]
    public void A_written_folder_loads_back_with_the_same_logits_and_in_the_reference()
    {
        PythonGpt2.SkipUnlessAvailable();
        string work = TestModels.TempDirectory();
        string source = CopyOfSmallCheckpoint(work, "gpt2");
        string output = Path.Combine(work, "tuned");
        var (model, _) = HuggingFaceGpt2.Load(source);
        using var _ = model;
        using (no_grad())
        {
            manual_seed(5);
            foreach (var p in model.parameters())
            {
                p.add_(randn(p.shape) * 0.05); // stands for training: the written weights are not the source's
            }
        }
        HuggingFaceGpt2Writer.Save(output, model, source, "gpt2");

        var header = SafeTensors.ReadHeader(Path.Combine(output, "model.safetensors"));
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Equal([32L, 96L], header.Tensors["transformer.h.0.attn.c_attn.weight"].Shape); // Conv1D: [in, out]
        Assert.Equal([128L, 32L], header.Tensors["transformer.h.1.mlp.c_proj.weight"].Shape);
        Assert.DoesNotContain("lm_head.weight", header.Tensors.Keys); // tied, as transformers leaves it out
        Assert.Equal("gpt2", JsonFiles.ReadObject(Path.Combine(output, "config.json"))["_name_or_path"]!.GetValue<string>());
        Assert.Equal("gpt2", JsonFiles.ReadObject(Path.Combine(output, "tokenizer_config.json"))["name_or_path"]!.GetValue<string>());
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "vocab.json")), File.ReadAllBytes(Path.Combine(output, "vocab.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "merges.txt")), File.ReadAllBytes(Path.Combine(output, "merges.txt")));
        Assert.DoesNotContain(Directory.GetFiles(output), f => File.ReadAllText(f).Contains(AlicesPath, StringComparison.Ordinal));
        Assert.DoesNotContain(Directory.GetDirectories(work), d => Path.GetFileName(d).StartsWith('.')); // no temporary folder left

        long[] ids = [5, 17, 42, 7, 99, 3];
        float[] mine = Logits(model, ids);
        var (reloaded, _) = HuggingFaceGpt2.Load(output);
        using (reloaded)
        {
            Assert.Equal(mine, Logits(reloaded, ids)); // bit for bit
        }
        float[] reference = PythonGpt2.Logits(output, ids);
        Assert.Equal(mine.Length, reference.Length);
        Assert.InRange(mine.Zip(reference, (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);
    }

    [SkippableFact]
    public void Tune_full_format_hf_writes_a_usable_checkpoint_named_as_the_user_named_the_base()
    {
        PythonGpt2.SkipUnlessAvailable();
        string work = TestModels.TempDirectory();
        CopyOfSmallCheckpoint(work, "gpt2");
        File.WriteAllLines(Path.Combine(work, "data.csv"), ["text,label,split", .. Enumerable.Range(0, 12).Select(i => $"the cat sat {i},{(i % 2 == 0 ? "joy" : "anger")},{(i < 8 ? "train" : "test")}")]);

        // Run from the folder, with relative names, as a user would type them.
        var (code, stdout, stderr) = CliTests.RunIn(work, "tune", "--model", "gpt2", "--data", "data.csv", "--method", "full", "--iters", "2", "--batch", "4", "--format", "hf", "--out", "tuned");
        Assert.True(code == 0, stderr);
        Assert.Contains("saved tuned", stdout);
        string output = Path.Combine(work, "tuned");
        Assert.Equal("gpt2", JsonFiles.ReadObject(Path.Combine(output, "config.json"))["_name_or_path"]!.GetValue<string>());
        Assert.DoesNotContain(Directory.GetFiles(output), f => File.ReadAllText(f).Contains(work, StringComparison.Ordinal) || File.ReadAllText(f).Contains(AlicesPath, StringComparison.Ordinal));

        // The folder is a checkpoint: the tuned weights differ from the base, and generate and the reference read it.
        var (tuned, _) = HuggingFaceGpt2.Load(output);
        var (baseModel, _) = HuggingFaceGpt2.Load(Path.Combine(work, "gpt2"));
        using (tuned)
        using (baseModel)
        {
            long[] ids = [5, 17, 42];
            float[] mine = Logits(tuned, ids);
            Assert.NotEqual(Logits(baseModel, ids), mine);
            Assert.InRange(mine.Zip(PythonGpt2.Logits(output, ids), (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);
        }
        (code, _, stderr) = CliTests.Run("generate", "--model", output, "--prompt", "the cat", "--max-new", "2");
        Assert.True(code == 0, stderr);
    }

    [SkippableTheory]
    [InlineData("own-model", "hf", "full", "is a PrefixLab model, which has no Hugging Face counterpart")]
    [InlineData("own-model", "peft", "lora", "is a PrefixLab model, which has no Hugging Face counterpart")]
    [InlineData("gpt2", "hf", "lora", "--format hf saves a whole model, so it goes with --method full")]
    [InlineData("gpt2", "peft", "prefix", "--format peft holds hard-prompt, soft-prompt, prefix-kv, lora, ia3 adapters, not prefix")]
    [InlineData("gpt2-into-full-folder", "hf", "full", "is a folder that is not empty")]
    public void Formats_that_cannot_be_written_are_refused_before_training(string model, string format, string method, string expected)
    {
        PythonGpt2.SkipUnlessAvailable();
        string work = TestModels.TempDirectory();
        string modelPath = model == "own-model" ? Path.Combine(work, "own.safetensors") : PythonGpt2.SmallCheckpoint;
        if (model == "own-model")
        {
            using var own = TestModels.Create();
            ModelFile.Save(modelPath, own, new ModelInfo(own.Config, 1));
        }
        string output = Path.Combine(work, "out");
        if (model == "gpt2-into-full-folder")
        {
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        }
        File.WriteAllLines(Path.Combine(work, "data.csv"), ["text,label,split", "a b,joy,train", "c d,anger,test"]);
        var (code, stdout, stderr) = CliTests.Run("tune", "--model", modelPath, "--data", Path.Combine(work, "data.csv"), "--method", method, "--iters", "2", "--batch", "2", "--format", format, "--out", output);
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.DoesNotContain("trainable parameters", stdout); // refused before the run began
        Assert.False(File.Exists(Path.Combine(work, "out.ckpt.safetensors")));
        Assert.Equal(model == "gpt2-into-full-folder" ? ["notes.txt"] : [], Directory.Exists(output) ? Directory.GetFiles(output).Select(Path.GetFileName) : []);
    }
}
