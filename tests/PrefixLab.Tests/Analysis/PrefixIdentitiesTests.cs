using PrefixLab.Analysis;
using PrefixLab.Model;
using PrefixLab.Tuning;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

using PrefixLab.Tests.Tuning;

namespace PrefixLab.Tests.Analysis;

public class PrefixIdentitiesTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> PrefixMethods => new()
    {
        { "soft-prompt", 3 },
        { "prefix", 1 },
        { "prefix", 3 },
        { "prefix", 10 },
        { "prefix-kv", 1 },
        { "prefix-kv", 3 },
    };

    [Theory]
    [MemberData(nameof(PrefixMethods))]
    public void First_layer_identities_hold_to_float32_and_float64_precision_over_shapes_and_seeds(string method, int size)
    {
        (int Layers, int Heads, int Width, bool Norm)[] shapes = [(1, 1, 16, true), (2, 2, 32, true), (3, 4, 32, false)];
        var largest = new double[2, 2]; // [float64?, (a) or (b)] at the first layer, for the log
        foreach (var (layers, heads, width, norm) in shapes)
        {
            for (int seed = 0; seed < 4; seed++)
            {
                foreach (bool float64 in new[] { false, true })
                {
                    var checks = Run(method, size, layers, heads, width, norm, seed, float64);
                    double tolerance = float64 ? 1e-12 : 1e-5;
                    string where = $"{method} P={size} shape {layers}x{heads}x{width} seed {seed} float64 {float64}";
                    Assert.Equal(layers * heads, checks.Count);
                    foreach (var check in checks)
                    {
                        // C3 and C2 on the layer's actual inputs hold at every layer.
                        Assert.True(check.BiasedMixError < tolerance, $"{where}: (b) {check.BiasedMixError} at layer {check.Layer}");
                        Assert.True(check.OwnContentError < tolerance, $"{where}: (a) own {check.OwnContentError} at layer {check.Layer}");
                        // A prefix the heads ignore would make the checks empty.
                        Assert.True(check.AlphaMax > 1e-3, $"{where}: α {check.AlphaMax}");
                    }
                    foreach (var check in checks.Where(c => c.Layer == 0))
                    {
                        int p = float64 ? 1 : 0;
                        largest[p, 0] = Math.Max(largest[p, 0], check.ContentAttentionError);
                        largest[p, 1] = Math.Max(largest[p, 1], check.BiasedMixError!.Value);
                        Assert.True(check.ContentAttentionError < tolerance, $"{where}: (a) {check.ContentAttentionError}");
                        Assert.True(check.ContentOutputError < tolerance, $"{where}: t̂ {check.ContentOutputError}");
                        Assert.True(check.Shift.KlMax < tolerance, $"{where}: KL {check.Shift.KlMax}");
                    }
                }
            }
        }
        output.WriteLine($"{method} P={size} first layer: float32 (a) {largest[0, 0]:E2} (b) {largest[0, 1]:E2}; float64 (a) {largest[1, 0]:E2} (b) {largest[1, 1]:E2}");
    }

    [Fact]
    public void Deeper_layers_show_the_cross_layer_shift_of_a_prefix()
    {
        var checks = Run("prefix", 3, layers: 3, heads: 2, width: 32, norm: true, seed: 5, float64: true);
        Assert.All(checks.Where(c => c.Layer > 0), c => Assert.True(c.ContentAttentionError > 1e-9 && c.Shift.TvMax > 1e-10, $"layer {c.Layer}: {c}"));
    }

    [Fact]
    public void Fine_tuning_the_query_weights_shows_a_large_shift_at_the_first_layer()
    {
        using var plain = TestModels.Create(layers: 2, heads: 2, width: 32, seed: 3);
        using var tuned = TestModels.Create(layers: 2, heads: 2, width: 32, seed: 3);
        using (no_grad())
        {
            // c_attn's first `width` output rows make the queries.
            var weight = tuned.state_dict()["transformer.h.0.attn.c_attn.weight"];
            random.manual_seed(9);
            weight[TensorIndex.Slice(0, 32)].add_(randn(32, 32) * 0.5);
        }
        using var tokens = TestModels.RandomTokens(4, 20);
        var checks = PrefixIdentities.Check(tuned, plain, PrefixGeometry.None, tokens);
        Assert.All(checks, c => Assert.Null(c.BiasedMixError));
        Assert.All(checks.Where(c => c.Layer == 0), c =>
        {
            Assert.True(c.ContentAttentionError > 1e-2, $"head {c.Head}: {c.ContentAttentionError}");
            Assert.True(c.Shift.KlMax > 1e-3 && c.Shift.TvMax > 1e-2, $"head {c.Head}: {c.Shift}");
        });
    }

    [Fact]
    public void Lora_on_the_mlp_leaves_first_layer_attention_alone_and_moves_the_next()
    {
        using var plain = TestModels.Create(layers: 2, heads: 2, width: 32, seed: 4);
        using var model = TestModels.Create(layers: 2, heads: 2, width: 32, seed: 4);
        using var lora = new Lora(model, new LoraSettings { Rank = 2 });
        using (no_grad())
        {
            random.manual_seed(2);
            foreach (var parameter in lora.Parameters)
            {
                parameter.copy_(randn(parameter.shape) * 0.5);
            }
        }
        using var tokens = TestModels.RandomTokens(4, 20);
        var checks = PrefixIdentities.Check(model, plain, PrefixGeometry.Of(lora), tokens);
        Assert.All(checks.Where(c => c.Layer == 0), c => Assert.True(c.Shift.KlMax < 1e-10));
        Assert.All(checks.Where(c => c.Layer == 1), c => Assert.True(c.Shift.TvMax > 1e-4, $"{c.Shift}"));
    }

    internal static IReadOnlyList<HeadCheck> Run(string method, int size, int layers, int heads, int width, bool norm, int seed, bool float64)
    {
        using var plain = TestModels.Create(layers, heads, width, blockSize: 29, attnLayerNorm: norm, seed: seed);
        using var model = TestModels.Create(layers, heads, width, blockSize: 29, attnLayerNorm: norm, seed: seed);
        random.manual_seed(100 + seed);
        using var adapter = TuningMethods.Create(method, model, TestSettings.For(method, prefixSize: size));
        if (float64)
        {
            plain.to(ScalarType.Float64);
            model.to(ScalarType.Float64);
        }
        var geometry = PrefixGeometry.Of(adapter);
        using var tokens = TestModels.RandomTokens(3, size + 12, seed + 7);
        if (geometry.Form == PrefixForm.Rows)
        {
            tokens[TensorIndex.Colon, TensorIndex.Slice(0, size)] = 0; // the padding the prefix replaces
        }
        return PrefixIdentities.Check(model, plain, geometry, tokens);
    }
}
