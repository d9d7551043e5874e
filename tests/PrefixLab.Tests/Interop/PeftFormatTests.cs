using PrefixLab.Interop;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>PEFT-layout adapters, both ways, against the independent PyTorch implementation.</summary>
public class PeftFormatTests
{
    [SkippableTheory]
    [InlineData("peft_lora", "lora")]
    [InlineData("peft_prefix", "prefix-kv")]
    public void Adapters_written_by_the_reference_load_and_match_its_logits(string adapter, string method)
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var (model, _) = ModelFile.Load(dir);
        using var _ = model;
        using var attached = AdapterFile.Load(Path.Combine(dir, adapter), model).Method;
        Assert.Equal(method, attached.Name);
        foreach (var item in PythonGpt2.Reference(dir).GetProperty(adapter).EnumerateArray())
        {
            var ids = HuggingFaceGpt2Tests.Ids(item.GetProperty("ids"));
            Assert.InRange(HuggingFaceGpt2Tests.MaxError(model, ids, HuggingFaceGpt2Tests.Floats(item.GetProperty("logits"))), 0, 1e-4);
        }
    }

    [SkippableTheory]
    [InlineData("lora", "c_attn,mlp.c_proj")]
    [InlineData("lora", "transformer.h.1.mlp.c_fc")]
    [InlineData("prefix-kv", "")]
    public void Adapters_written_by_PrefixLab_are_read_by_the_reference_and_back(string method, string targets)
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var (model, _) = ModelFile.Load(dir);
        using var _ = model;
        var settings = new TuningSettings { PrefixSize = 2, Rank = 3, Alpha = 6, Targets = targets.Split(',') };
        string output = Path.Combine(TestModels.TempDirectory(), "adapter");
        long[] ids = [5, 17, 42, 7, 99];
        float[] mine;
        using (var adapter = TuningMethods.Create(method, model, settings))
        {
            using (no_grad())
            {
                foreach (var p in adapter.Parameters)
                {
                    p.copy_(randn(p.shape) * 0.5); // LoRA's B starts at zero; make the update visible
                }
            }
            PeftFormat.Save(output, adapter, model, dir);
            using var input = tensor(ids, [1, ids.Length]);
            using (no_grad())
            {
                mine = model.Forward(input).flatten().data<float>().ToArray();
            }
        }
        Assert.True(File.Exists(Path.Combine(output, PeftFormat.ConfigFile)));
        var reference = PythonGpt2.Logits(dir, ids, output);
        Assert.Equal(reference.Length, mine.Length);
        Assert.InRange(reference.Zip(mine, (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);

        using var loaded = AdapterFile.Load(output, model).Method;
        Assert.InRange(HuggingFaceGpt2Tests.MaxError(model, ids, mine), 0, 1e-6);
    }

    [SkippableFact]
    public void Bad_adapters_are_refused_with_one_line()
    {
        PythonGpt2.SkipUnlessAvailable();
        var (model, _) = ModelFile.Load(PythonGpt2.SmallCheckpoint);
        using var _ = model;
        string dir = TestModels.TempDirectory();
        File.WriteAllText(Path.Combine(dir, PeftFormat.ConfigFile), "{\"peft_type\": \"IA3\"}");
        SafeTensors.Save(Path.Combine(dir, PeftFormat.WeightsFile), new Dictionary<string, Tensor> { ["x"] = zeros(1) }, new Dictionary<string, string>());
        Assert.Contains("'IA3' is not supported", Assert.Throws<PrefixLabException>(() => AdapterFile.Load(dir, model)).Message);

        File.WriteAllText(Path.Combine(dir, PeftFormat.ConfigFile), "{\"peft_type\": \"PREFIX_TUNING\", \"num_virtual_tokens\": 2, \"token_dim\": 32, \"num_layers\": 2, \"num_attention_heads\": 2}");
        SafeTensors.Save(Path.Combine(dir, PeftFormat.WeightsFile), new Dictionary<string, Tensor> { ["prompt_embeddings"] = zeros(2, 64) }, new Dictionary<string, string>());
        Assert.Contains("has shape [2, 64], expected [2, 128]", Assert.Throws<PrefixLabException>(() => AdapterFile.Load(dir, model)).Message);

        using var soft = TuningMethods.Create("soft-prompt", model, new TuningSettings());
        Assert.Contains("no PEFT counterpart", Assert.Throws<PrefixLabException>(() => PeftFormat.Save(dir, soft, model)).Message);
    }
}
