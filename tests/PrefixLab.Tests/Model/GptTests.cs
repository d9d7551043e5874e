using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Model;

public class GptTests
{
    [Theory]
    [InlineData(1, 1, 24, true)]
    [InlineData(2, 4, 32, false)]
    public void Changing_a_later_token_never_changes_an_earlier_positions_logits(int layers, int heads, int width, bool attnLayerNorm)
    {
        using var model = TestModels.Create(layers, heads, width, attnLayerNorm: attnLayerNorm);
        using var noGrad = no_grad();
        var tokens = TestModels.RandomTokens(4, 20);
        var before = model.Forward(tokens);
        for (int changed = 0; changed < 20; changed += 7)
        {
            var edited = tokens.clone();
            edited[TensorIndex.Colon, changed] = (edited[TensorIndex.Colon, changed] + 1) % 11;
            var after = model.Forward(edited);
            Assert.True(TestModels.Same(before[TensorIndex.Colon, TensorIndex.Slice(0, changed)], after[TensorIndex.Colon, TensorIndex.Slice(0, changed)]));
            Assert.False(before[TensorIndex.Colon, changed].allclose(after[TensorIndex.Colon, changed]));
        }
    }

    [Theory]
    [InlineData(1, 1, 24)]
    [InlineData(3, 4, 32)]
    public void Cached_generation_gives_the_tokens_of_uncached_generation(int layers, int heads, int width)
    {
        using var model = TestModels.Create(layers, heads, width, blockSize: 40);
        var prompts = TestModels.RandomTokens(16, 12);
        var cached = Generation.Greedy(model, prompts, 20, useCache: true);
        var uncached = Generation.Greedy(model, prompts, 20, useCache: false);
        Assert.Equal(new long[] { 16, 20 }, cached.shape);
        Assert.Equal(uncached.data<long>().ToArray(), cached.data<long>().ToArray());
    }

    [Fact]
    public void Generation_restores_training_mode_and_is_deterministic()
    {
        using var model = TestModels.Create();
        model.train();
        var prompts = TestModels.RandomTokens(4, 10);
        var first = Generation.Greedy(model, prompts, 5);
        Assert.True(model.training);
        var second = Generation.Greedy(model, prompts, 5);
        Assert.Equal(first.data<long>().ToArray(), second.data<long>().ToArray());
    }

    [Fact]
    public void Last_rows_of_the_pruned_forward_equal_the_full_forward()
    {
        using var model = TestModels.Create(layers: 3);
        using var noGrad = no_grad();
        var tokens = TestModels.RandomTokens(4, 25);
        var full = model.Hidden(tokens);
        var pruned = model.Hidden(tokens, lastRows: 10);
        Assert.Equal(new long[] { 4, 10, 32 }, pruned.shape);
        Assert.True(full[TensorIndex.Colon, TensorIndex.Slice(-10)].allclose(pruned, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Parameter_names_are_mingpts_and_decay_goes_to_linear_weights_only()
    {
        using var model = TestModels.Create(layers: 1, attnLayerNorm: false);
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Contains("transformer.wte.weight", names);
        Assert.Contains("transformer.h.0.attn.c_attn.bias", names);
        Assert.Contains("transformer.h.0.mlp.c_proj.weight", names);
        Assert.Contains("lm_head.weight", names);
        Assert.DoesNotContain("transformer.h.0.ln_1.weight", names);
        var (decay, noDecay) = model.ParameterGroups();
        Assert.Equal(5, decay.Count); // c_attn, attn c_proj, c_fc, mlp c_proj, lm_head
        Assert.Equal(names.Count - 5, noDecay.Count);
    }

    [Fact]
    public void Initialisation_follows_mingpt()
    {
        using var model = TestModels.Create(layers: 4, width: 256);
        var p = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        Assert.InRange(p["transformer.h.0.mlp.c_fc.weight"].std().item<float>(), 0.019, 0.021);
        Assert.InRange(p["transformer.h.0.mlp.c_proj.weight"].std().item<float>(), 0.0067, 0.0075); // 0.02 / sqrt(8)
        Assert.Equal(0, p["transformer.h.0.attn.c_attn.bias"].abs().sum().item<float>());
        Assert.Equal(1, p["transformer.ln_f.weight"].mean().item<float>());
    }

    [Fact]
    public void Hooks_read_and_replace_activations_and_unknown_names_fail()
    {
        using var model = TestModels.Create();
        using var noGrad = no_grad();
        var tokens = TestModels.RandomTokens(2, 8);
        Tensor? pattern = null;
        using (model.Hooks.Add(HookPoints.Pattern(1), (a, _) => pattern = a.clone()))
        {
            model.Forward(tokens);
        }
        Assert.NotNull(pattern);
        Assert.Equal(new long[] { 2, 2, 8, 8 }, pattern!.shape);
        Assert.True(pattern.sum(-1).allclose(ones(2, 2, 8)));
        Assert.Equal(0, pattern.triu(1).abs().sum().item<float>());

        var plain = model.Forward(tokens);
        using (model.Hooks.Add(HookPoints.ResidPost(1), (a, _) => zeros_like(a)))
        {
            var replaced = model.Forward(tokens);
            Assert.False(plain.allclose(replaced));
            Assert.True(replaced[0, 0].allclose(replaced[1, 3]));
        }
        Assert.True(TestModels.Same(plain, model.Forward(tokens)));
        Assert.Throws<PrefixLabException>(() => model.Hooks.Add("blocks.9.hook_resid_pre", (a, _) => a));
    }

    [Fact]
    public void Dropout_keeps_nine_in_ten_scaled_and_follows_its_seed_alone()
    {
        var stream = new DropoutStream(42);
        using var dropout = new MaskDropout(0.1, stream);
        dropout.train();
        var x = ones(64, 29, 256);
        var first = dropout.forward(x);
        var kept = first.ne(0).to_type(ScalarType.Float32).mean().item<float>();
        Assert.InRange(kept, 0.895, 0.905);
        Assert.True(first.max().item<float>() is > 1.1110f and < 1.1112f);
        random.manual_seed(123); // the global generator plays no part
        stream.Reseed(42);
        Assert.True(TestModels.Same(first, dropout.forward(x)));
        Assert.False(TestModels.Same(first, dropout.forward(x)));
        dropout.eval();
        Assert.True(TestModels.Same(x, dropout.forward(x)));
    }

    [Fact]
    public void Sequences_past_the_block_size_are_refused()
    {
        using var model = TestModels.Create(blockSize: 8);
        var error = Assert.Throws<PrefixLabException>(() => model.Forward(TestModels.RandomTokens(1, 9)));
        Assert.Contains("block size 8", error.Message);
    }
}
