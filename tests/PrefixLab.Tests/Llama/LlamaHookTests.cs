using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Llama;

/// <summary>The Llama family's hook points: names, shapes, and the key/value prefix they carry.</summary>
public class LlamaHookTests
{
    // 2 layers, width 64, 4 query heads of 16 over 2 key/value heads, MLP 96, vocabulary 300.
    private static PrefixLab.Model.Llama Load() => HuggingFaceLlama.Load(PythonLlama.Checkpoint());

    [SkippableFact]
    public void Hook_points_have_transformer_lens_names_and_shapes()
    {
        using var model = Load();
        var shapes = new Dictionary<string, long[]>();
        using var noGrad = no_grad();
        using (model.Hooks.Scope(model.Hooks.Names.Select(name => (name, (HookFunction)((a, _) => { shapes[name] = a.shape; return a; })))))
        {
            using var logits = model.Forward(tensor(new long[] { 5, 6, 7, 8, 9 }, [1, 5]));
        }
        long[] Shape(params long[] s) => s;
        Assert.Equal(Shape(1, 5, 64), shapes[HookPoints.Embed]);
        Assert.Equal(Shape(1, 4, 5, 16), shapes[HookPoints.Q(1)]);
        Assert.Equal(Shape(1, 4, 5, 16), shapes[HookPoints.RotQ(1)]);
        Assert.Equal(Shape(1, 2, 5, 16), shapes[HookPoints.K(1)]);
        Assert.Equal(Shape(1, 2, 5, 16), shapes[HookPoints.RotK(1)]);
        Assert.Equal(Shape(1, 2, 5, 16), shapes[HookPoints.V(1)]);
        Assert.Equal(Shape(1, 4, 5, 5), shapes[HookPoints.Scores(1)]);
        Assert.Equal(Shape(1, 4, 5, 5), shapes[HookPoints.Pattern(1)]);
        Assert.Equal(Shape(1, 4, 5, 16), shapes[HookPoints.Z(1)]);
        Assert.Equal(Shape(1, 5, 96), shapes[HookPoints.MlpPre(1)]);
        Assert.Equal(Shape(1, 5, 96), shapes[HookPoints.MlpPost(1)]);
        Assert.Equal(Shape(1, 5, 64), shapes[HookPoints.ResidPost(1)]);
        Assert.Equal(Shape(1, 5, 64), shapes[HookPoints.FinalNormalized]);
        Assert.Equal(Shape(1, 5, 300), shapes["lm_head.hook_out"]);
        Assert.Equal(Shape(1, 5, 96), shapes["blocks.0.mlp.down_proj.hook_out"[..^"down_proj.hook_out".Length] + "gate_proj.hook_out"]);
        // LoRA finds a layer's point from the module tree.
        var qProj = (Linear)model.named_modules().Single(m => m.name == "model.layers.1.self_attn.q_proj").module;
        Assert.Equal("blocks.1.attn.q_proj.hook_out", model.Hooks.OutputOf(qProj).Name);
    }

    [SkippableFact]
    public void Rotated_keys_span_every_cached_position_during_generation()
    {
        using var model = Load();
        var lengths = new List<long>();
        using var hook = model.Hooks.Add(HookPoints.RotK(0), (k, _) => { lengths.Add(k.shape[2]); return k; });
        using var prompt = tensor(new long[] { 1, 2, 3 }, [1, 3]);
        using var generated = Generation.Greedy(model, prompt, 3);
        Assert.Equal([3L, 4, 5], lengths);
    }

    /// <summary>
    /// A key/value prefix as Hugging Face's past_key_values: the rotated keys and the values of the first
    /// P tokens, prepended at every layer while the rest runs P positions along, give the full run's
    /// logits for the rest, with and without the cache.
    /// </summary>
    [SkippableFact]
    public void A_key_value_prefix_with_shifted_positions_equals_running_the_whole_sequence()
    {
        using var model = Load();
        using var noGrad = no_grad();
        long[] ids = [11, 22, 33, 44, 55, 66, 77];
        const int P = 3;
        var keys = new Tensor[2];
        var values = new Tensor[2];
        Tensor full;
        using (model.Hooks.Scope(Enumerable.Range(0, 2).SelectMany(layer => new (string, HookFunction)[]
        {
            (HookPoints.RotK(layer), (k, _) => { keys[layer] = k[.., .., ..P].clone(); return k; }),
            (HookPoints.V(layer), (v, _) => { values[layer] = v[.., .., ..P].clone(); return v; }),
        })))
        {
            full = model.Forward(tensor(ids, [1, ids.Length]));
        }
        var prefixHooks = Enumerable.Range(0, 2).SelectMany(layer => new (string, HookFunction)[]
        {
            (HookPoints.RotK(layer), (k, _) => cat([keys[layer], k], 2)),
            (HookPoints.V(layer), (v, _) => cat([values[layer], v], 2)),
        }).ToList();
        using var rest = tensor(ids[P..], [1, ids.Length - P]);
        using (model.ShiftPositions(P))
        using (model.Hooks.Scope(prefixHooks))
        {
            Assert.Equal(P, model.PositionShift);
            using var logits = model.Forward(rest);
            double error = (logits - full[.., P..]).abs().max().item<float>();
            Assert.InRange(error, 0, 1e-5);
            using var cached = Generation.Greedy(model, rest, 5, useCache: true);
            using var uncached = Generation.Greedy(model, rest, 5, useCache: false);
            Assert.Equal(uncached.data<long>().ToArray(), cached.data<long>().ToArray());
        }
        Assert.Equal(0, model.PositionShift);
        // Without the shift the same prefix puts the tokens at the wrong positions.
        using (model.Hooks.Scope(prefixHooks))
        {
            using var logits = model.Forward(rest);
            Assert.True((logits - full[.., P..]).abs().max().item<float>() > 1e-3);
        }
    }

    [Fact]
    public void A_seeded_model_is_initialised_the_same_way_in_any_compute_type()
    {
        var config = new LlamaConfig(VocabSize: 50, Positions: 32, Layers: 1, Heads: 4, KeyValueHeads: 2, Width: 32, MlpWidth: 48);
        using var a = new PrefixLab.Model.Llama(config, seed: 3);
        using var b = new PrefixLab.Model.Llama(config, seed: 3, ScalarType.BFloat16);
        var sa = a.state_dict();
        foreach (var (name, value) in b.state_dict())
        {
            Assert.Equal(ScalarType.BFloat16, value.dtype);
            Assert.True(value.to_type(ScalarType.Float32).allclose(sa[name].to_type(ScalarType.BFloat16).to_type(ScalarType.Float32)), name);
        }
        Assert.Equal(1f, sa["model.norm.weight"].mean().item<float>());
        Assert.InRange(sa["model.layers.0.mlp.up_proj.weight"].std().item<float>(), 0.018, 0.022);
    }
}
