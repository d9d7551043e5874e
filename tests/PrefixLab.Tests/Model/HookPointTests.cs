using PrefixLab.Analysis;
using PrefixLab.Model;
using PrefixLab.Tuning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Model;

public class HookPointTests
{
    // TestModels.Create(): 2 layers, 2 heads of 16, width 32, MLP 128, vocabulary 11; tokens [2, 8].
    private static readonly Dictionary<string, long[]> Expected = BuildExpected();

    private static Dictionary<string, long[]> BuildExpected()
    {
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["hook_embed"] = [2, 8, 32],
            ["hook_pos_embed"] = [8, 32],
            ["ln_final.hook_normalized"] = [2, 8, 32],
            ["lm_head.hook_out"] = [2, 8, 11],
        };
        for (int l = 0; l < 2; l++)
        {
            foreach (string point in new[] { "hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post", "attn.c_proj.hook_out", "mlp.c_proj.hook_out" })
            {
                expected[$"blocks.{l}.{point}"] = [2, 8, 32];
            }
            foreach (string point in new[] { "hook_q", "hook_k", "hook_v", "hook_z" })
            {
                expected[$"blocks.{l}.attn.{point}"] = [2, 2, 8, 16];
            }
            expected[$"blocks.{l}.attn.hook_attn_scores"] = [2, 2, 8, 8];
            expected[$"blocks.{l}.attn.hook_pattern"] = [2, 2, 8, 8];
            expected[$"blocks.{l}.attn.c_attn.hook_out"] = [2, 8, 96];
            expected[$"blocks.{l}.mlp.hook_pre"] = [2, 8, 128];
            expected[$"blocks.{l}.mlp.hook_post"] = [2, 8, 128];
            expected[$"blocks.{l}.mlp.c_fc.hook_out"] = [2, 8, 128];
        }
        return expected;
    }

    [Fact]
    public void Every_hook_point_exists_with_its_name_and_shape_and_fires_once_per_forward()
    {
        using var model = TestModels.Create();
        var tokens = TestModels.RandomTokens(2, 8);
        Assert.Equal(Expected.Keys.Order(StringComparer.Ordinal), model.Hooks.Names.Order(StringComparer.Ordinal));

        var fired = new Dictionary<string, List<long[]>>(StringComparer.Ordinal);
        var hooks = model.Hooks.Names.Select(name => (name, (HookFunction)((a, context) =>
        {
            Assert.Equal(name, context.Name);
            (fired.TryGetValue(name, out var seen) ? seen : fired[name] = []).Add(a.shape);
            return a;
        })));
        using (model.Hooks.Scope(hooks))
        using (no_grad())
        {
            model.Forward(tokens);
        }
        Assert.Equal(Expected.Count, fired.Count);
        Assert.All(Expected, kv => Assert.Equal(kv.Value, Assert.Single(fired[kv.Key])));
    }

    [Fact]
    public void Hook_points_are_modules_under_the_gpt_paths_and_leave_the_state_dict_alone()
    {
        using var model = TestModels.Create();
        var points = model.named_modules().Where(m => m.module is HookPoint).ToDictionary(m => m.name, m => ((HookPoint)m.module).Name);
        Assert.Equal("blocks.0.attn.hook_pattern", points["transformer.h.0.attn.hook_pattern"]);
        Assert.Equal("blocks.1.hook_resid_pre", points["transformer.h.1.hook_resid_pre"]);
        Assert.Equal("blocks.0.mlp.c_fc.hook_out", points["transformer.h.0.mlp.c_fc.hook_out"]);
        Assert.Equal("ln_final.hook_normalized", points["transformer.ln_f.hook_normalized"]);
        Assert.Equal("hook_embed", points["transformer.hook_embed"]);
        Assert.Equal(Expected.Count, points.Count);
        Assert.Same(model.Hooks["blocks.0.attn.hook_pattern"], model.named_modules().Single(m => m.name == "transformer.h.0.attn.hook_pattern").module);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("hook", StringComparison.Ordinal));
        Assert.Equal(model.named_parameters().Select(p => p.name), model.state_dict().Keys);
    }

    [Fact]
    public void Attaching_nothing_costs_nothing()
    {
        using var model = TestModels.Create();
        var tokens = TestModels.RandomTokens(2, 8);
        using var noGrad = no_grad();
        var plain = model.Forward(tokens);
        Assert.False(model.Hooks.Active);
        // Read-only hooks at every point change no bit of the output.
        using (model.Hooks.Scope(model.Hooks.Names.Select(n => (n, (HookFunction)((a, _) => a)))))
        {
            Assert.True(model.Hooks.Active);
            Assert.True(TestModels.Same(plain, model.Forward(tokens)));
        }
        Assert.False(model.Hooks.Active);
        Assert.True(TestModels.Same(plain, model.Forward(tokens)));

        // A point with nothing attached hands its input back and allocates nothing.
        var point = model.Hooks[HookPoints.ResidPre(0)];
        var x = ones(2, 3);
        Assert.Same(x, point.Run(x, 0));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            point.Run(x, i);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void Scoped_hooks_are_gone_after_the_scope_even_on_an_exception()
    {
        using var model = TestModels.Create();
        var tokens = TestModels.RandomTokens(2, 8);
        int calls = 0;
        HookFunction count = (a, _) =>
        {
            calls++;
            return a;
        };
        void RunThenFail()
        {
            using (model.Hooks.Scope((HookPoints.Pattern(1), count), (HookPoints.Embed, count)))
            {
                using (no_grad())
                {
                    model.Forward(tokens);
                }
                throw new InvalidOperationException("inside the scope");
            }
        }
        Assert.Throws<InvalidOperationException>(RunThenFail);
        Assert.Equal(2, calls);
        Assert.False(model.Hooks.Active);

        // An unknown name attaches none of the others.
        Assert.Throws<PrefixLabException>(() => model.Hooks.Scope((HookPoints.Q(0), count), ("blocks.9.hook_resid_pre", count)));
        Assert.False(model.Hooks.Active);
    }

    [Fact]
    public void Run_with_cache_gives_what_hooks_read_and_the_recorder_records()
    {
        using var model = TestModels.Create();
        var tokens = TestModels.RandomTokens(3, 10);
        // With a key/value prefix attached, so the cached keys include the prefix's.
        using var prefix = new PrefixKv(model, new PrefixKvSettings { PrefixSize = 2 });
        var read = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var names = new[] { HookPoints.ResidPre(1), HookPoints.K(1), HookPoints.Pattern(0), HookPoints.Z(1) };
        using (model.Hooks.Scope(names.Select(n => (n, (HookFunction)((a, _) =>
        {
            read[n] = a.detach().clone();
            return a;
        })))))
        using (no_grad())
        {
            model.Forward(tokens);
        }
        using var cache = model.RunWithCache(tokens, names.Contains);
        Assert.Equal(names.Order(StringComparer.Ordinal), cache.Keys.Order(StringComparer.Ordinal));
        Assert.All(names, n => Assert.True(TestModels.Same(read[n], cache[n]), n));
        Assert.Equal(12, cache[HookPoints.K(1)].shape[2]);

        using var recording = AttentionRecorder.Record(model, tokens);
        Assert.True(TestModels.Same(read[HookPoints.Pattern(0)], recording.Layers[0].Pattern));
        Assert.True(TestModels.Same(read[HookPoints.K(1)], recording.Layers[1].Keys));
        Assert.True(TestModels.Same(read[HookPoints.Z(1)], recording.Layers[1].Output));
        Assert.True(TestModels.Same(read[HookPoints.ResidPre(1)], recording.Layers[1].Input));
    }

    [Fact]
    public void Lora_through_the_output_points_equals_the_merged_weights()
    {
        using var model = TestModels.Create();
        using var lora = new Lora(model, new LoraSettings { Rank = 2, Alpha = 4, Targets = ["c_attn", "c_fc", "c_proj", "lm_head"] });
        Assert.Equal(9, lora.AdaptedLayers.Count); // c_attn, c_proj, c_fc, c_proj in each of 2 blocks; the head
        using (no_grad())
        {
            foreach (var p in lora.Parameters)
            {
                p.copy_(randn_like(p).mul_(0.1));
            }
        }
        using var noGrad = no_grad();
        var tokens = TestModels.RandomTokens(2, 8);
        var viaHooks = model.Forward(tokens);
        lora.Merge();
        var merged = model.Forward(tokens);
        lora.Unmerge();
        double gap = (viaHooks - merged).abs().max().item<float>();
        Assert.True(gap < 1e-6, $"{gap}");
        Assert.True(TestModels.Same(viaHooks, model.Forward(tokens)));
        using var plain = TestModels.Create();
        Assert.False(viaHooks.allclose(plain.Forward(tokens), atol: 1e-3));
    }
}
