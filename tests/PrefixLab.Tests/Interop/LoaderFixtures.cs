using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Real files of every kind a user hands PrefixLab, written by PrefixLab itself: a model file, a LoRA
/// adapter file, a Hugging Face GPT-2 folder (one file, and two shards with an index; written here in
/// the Hugging Face layout: Conv1D weights [in, out], a stored tied <c>lm_head</c>, mask buffers) and a
/// PEFT LoRA folder; with each one's weights as a loader must give them back.
/// </summary>
internal sealed class LoaderFixtures : IDisposable
{
    /// <summary>The digit task the model file and the adapter say they were trained on.</summary>
    public const string Task = "ascending";

    private static readonly string[] Conv1D = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    public LoaderFixtures()
    {
        Root = TestModels.TempDirectory();
        Base = new Gpt(new GptConfig(11, 29, 1, 2, 16), seed: 3);
        Base.eval();
        ModelPath = Path.Combine(Root, "model.safetensors");
        ModelFile.Save(ModelPath, Base, new ModelInfo(Base.Config, 1, Task, 10, 3));
        ModelWeights = Copy(Base.state_dict());
        BaseFingerprint = AdapterFile.Fingerprint(Base);

        AdapterPath = Path.Combine(Root, "adapter.safetensors");
        var settings = new LoraSettings { Rank = 2, Alpha = 4, Targets = ["c_attn", "c_fc"] };
        using (var lora = TuningMethods.Create("lora", Base, settings))
        {
            Randomise(lora, 4);
            AdapterFile.Save(AdapterPath, lora, new AdapterInfo("lora", settings, BaseFingerprint, 1, Task, 5));
            AdapterWeights = Copy(lora.SaveTensors());
        }

        Gpt2 = new Gpt(new GptConfig(40, 16, 2, 2, 16, TiedHead: true), seed: 5);
        Gpt2.eval();
        Gpt2Weights = Copy(Gpt2.state_dict());
        Gpt2Dir = Path.Combine(Root, "gpt2");
        Gpt2ShardedDir = Path.Combine(Root, "gpt2-sharded");
        WriteHuggingFace(Gpt2, Gpt2Dir, shards: 1);
        WriteHuggingFace(Gpt2, Gpt2ShardedDir, shards: 2);

        PeftDir = Path.Combine(Root, "peft");
        using (var lora = TuningMethods.Create("lora", Gpt2, new LoraSettings { Rank = 2, Alpha = 2, Targets = ["c_attn", "mlp.c_proj"] }))
        {
            Randomise(lora, 6);
            PeftFormat.Save(PeftDir, lora, Gpt2, "gpt2");
            PeftWeights = Copy(lora.SaveTensors());
        }
    }

    public string Root { get; }

    public Gpt Base { get; }

    public string BaseFingerprint { get; }

    public string ModelPath { get; }

    public Dictionary<string, Tensor> ModelWeights { get; }

    public string AdapterPath { get; }

    public Dictionary<string, Tensor> AdapterWeights { get; }

    public Gpt Gpt2 { get; }

    public Dictionary<string, Tensor> Gpt2Weights { get; }

    public string Gpt2Dir { get; }

    public string Gpt2ShardedDir { get; }

    public string PeftDir { get; }

    public Dictionary<string, Tensor> PeftWeights { get; }

    /// <summary>Loads a model file or GPT-2 folder in-process; its weights, copied.</summary>
    public static Dictionary<string, Tensor> LoadModel(string path)
    {
        var (model, _) = ModelLoader.Load(path);
        using (model)
        {
            return Copy(model.Module.state_dict());
        }
    }

    /// <summary>Loads an adapter file onto the base model in-process; its tensors, copied.</summary>
    public Dictionary<string, Tensor> LoadAdapter(string path)
    {
        using var method = AdapterFile.Load(path, Base, BaseFingerprint).Method;
        return Copy(method.SaveTensors());
    }

    /// <summary>Loads a PEFT folder onto the GPT-2 model in-process; its tensors, copied.</summary>
    public Dictionary<string, Tensor> LoadPeft(string path)
    {
        using var method = AdapterFile.Load(path, Gpt2).Method;
        return Copy(method.SaveTensors());
    }

    /// <summary>Values of <paramref name="loaded"/> that differ from <paramref name="expected"/>; -1 when the names or shapes differ.</summary>
    public static long Differences(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> loaded)
    {
        if (!expected.Keys.Order().SequenceEqual(loaded.Keys.Order()))
        {
            return -1;
        }
        long count = 0;
        foreach (var (name, tensor) in expected)
        {
            var other = loaded[name];
            if (!tensor.shape.SequenceEqual(other.shape))
            {
                return -1;
            }
            using var differ = tensor.ne(other.to_type(tensor.dtype));
            count += differ.sum().item<long>();
        }
        return count;
    }

    /// <summary>Writes <paramref name="model"/> as a Hugging Face GPT-2 checkpoint (tied head).</summary>
    public static void WriteHuggingFace(Gpt model, string directory, int shards)
    {
        Directory.CreateDirectory(directory);
        var c = model.Config;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["model_type"] = "gpt2",
            ["vocab_size"] = c.VocabSize,
            ["n_positions"] = c.BlockSize,
            ["n_ctx"] = c.BlockSize,
            ["n_embd"] = c.Width,
            ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads,
            ["n_inner"] = null,
            ["activation_function"] = "gelu_new",
            ["layer_norm_epsilon"] = 1e-5,
            ["resid_pdrop"] = 0.1,
            ["embd_pdrop"] = 0.1,
            ["attn_pdrop"] = 0.1,
            ["scale_attn_weights"] = true,
            ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(directory, HuggingFaceGpt2.ConfigFile), config.ToJsonString());
        var tensors = new List<(string Name, Tensor Value)>();
        foreach (var (name, value) in model.state_dict())
        {
            tensors.Add((name, Conv1D.Any(name.EndsWith) ? value.t().contiguous() : value));
        }
        tensors.Add(("lm_head.weight", model.state_dict()["transformer.wte.weight"]));
        for (int layer = 0; layer < c.Layers; layer++)
        {
            tensors.Add(($"transformer.h.{layer}.attn.bias", ones(1, 1, c.BlockSize, c.BlockSize).tril()));
        }
        if (shards == 1)
        {
            SafeTensors.Save(Path.Combine(directory, "model.safetensors"), tensors.ToDictionary(t => t.Name, t => t.Value), new Dictionary<string, string> { ["format"] = "pt" });
            return;
        }
        var map = new JsonObject();
        int per = (tensors.Count + shards - 1) / shards;
        for (int s = 0; s < shards; s++)
        {
            string file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            var part = tensors.Skip(s * per).Take(per).ToList();
            SafeTensors.Save(Path.Combine(directory, file), part.ToDictionary(t => t.Name, t => t.Value), new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var (name, _) in part)
            {
                map[name] = file;
            }
        }
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map }.ToJsonString());
    }

    public void Dispose()
    {
        Base.Dispose();
        Gpt2.Dispose();
    }

    private static void Randomise(ITuningMethod method, long seed)
    {
        random.manual_seed(seed);
        using var noGrad = no_grad();
        foreach (var p in method.Parameters)
        {
            p.copy_(randn(p.shape) * 0.1); // LoRA's B starts at zero; make every value distinct
        }
    }

    private static Dictionary<string, Tensor> Copy(IReadOnlyDictionary<string, Tensor> tensors) =>
        tensors.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal);
}
