using PrefixLab.Analysis;
using PrefixLab.Model;
using PrefixLab.Reporting;
using PrefixLab.Tuning;
using SkiaSharp;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Analysis;

public class RecorderAndBiasTests
{
    [Fact]
    public void The_recorder_sees_what_the_model_computes_and_detaches_itself()
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 32);
        random.manual_seed(1);
        using var kv = new PrefixKv(model, new PrefixKvSettings { PrefixSize = 3 });
        using var tokens = TestModels.RandomTokens(2, 10);
        using var recording = AttentionRecorder.Record(model, tokens);
        Assert.Equal(2, recording.Layers.Count);
        var layer = recording.Layers[1];
        Assert.Equal([2L, 10, 32], layer.Input.shape);
        Assert.Equal([2L, 2, 13, 16], layer.Keys.shape); // the 3 prefix keys in front
        Assert.Equal([2L, 2, 10, 13], layer.Pattern.shape);
        Assert.True(layer.Pattern.sum(-1).allclose(ones(2, 2, 10), atol: 1e-6));
        Assert.True(layer.Output.allclose(matmul(layer.Pattern, layer.Values), atol: 1e-6));
        using var noGrad = no_grad();
        Assert.True(TestModels.Same(layer.Values[.., .., ..3], kv.KeysValues()[1, 1].unsqueeze(0).expand(2, 2, 3, 16)));
        // Only the adapter's own hooks remain (two per layer).
        using var again = model.Forward(tokens);
        Assert.True(model.Hooks.Active);
    }

    [Fact]
    public void The_bias_vectors_are_the_prefix_values_and_one_vector_spans_one_direction()
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 32);
        random.manual_seed(2);
        using var kv = new PrefixKv(model, new PrefixKvSettings { PrefixSize = 1 });
        using var tokens = TestModels.RandomTokens(4, 12);
        var bias = BiasSpan.Measure(model, PrefixGeometry.Of(kv), tokens);
        Assert.Equal(4, bias.Count);
        using var noGrad = no_grad();
        foreach (var head in bias)
        {
            var expected = kv.KeysValues()[head.Layer, 1, head.Head, 0].to_type(ScalarType.Float64).data<double>().ToArray();
            Assert.Equal(expected, Assert.Single(head.Vectors));
            Assert.Equal(1.0, head.EffectiveDimension, 12);
            Assert.Equal(1.0, head.EffectivePositions, 12);
            Assert.Equal(0.0, head.Entropy, 12);
            Assert.InRange(head.PrefixMass, 1e-3, 1);
        }
    }

    [Fact]
    public void Ten_equal_prefix_vectors_spread_attention_evenly_over_all_ten_and_span_one_direction()
    {
        using var model = TestModels.Create(layers: 1, heads: 2, width: 32);
        random.manual_seed(3);
        using var prefix = new Prefix(model, new PromptSettings { PrefixSize = 10 });
        // Ten copies of one vector: equal keys, so every query's attention over them is uniform
        // (exp of the entropy is exactly 10), and equal values, so their span is one direction.
        using (no_grad())
        {
            var vectors = prefix.Parameters[0];
            using var first = vectors[TensorIndex.Colon, TensorIndex.Slice(0, 1)].clone();
            vectors.copy_(first.expand_as(vectors));
        }
        using var tokens = TestModels.RandomTokens(4, 20);
        tokens[TensorIndex.Colon, TensorIndex.Slice(0, 10)] = 0;
        var bias = BiasSpan.Measure(model, PrefixGeometry.Of(prefix), tokens);
        Assert.All(bias, head =>
        {
            Assert.Equal(10, head.Vectors.Count);
            Assert.Equal(10.0, head.EffectivePositions, 4);
            Assert.Equal(1.0, head.EffectiveDimension, 3);
            Assert.Equal(head.SingularValues.OrderDescending(), head.SingularValues);
        });
        Assert.Throws<PrefixLabException>(() => BiasSpan.Measure(model, PrefixGeometry.None, tokens));
    }

    [Fact]
    public void One_query_row_is_measured_alone_and_the_rows_average_to_all_content_queries()
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 32);
        random.manual_seed(5);
        using var prefix = new Prefix(model, new PromptSettings { PrefixSize = 4 });
        using var tokens = TestModels.RandomTokens(3, 12);
        tokens[TensorIndex.Colon, TensorIndex.Slice(0, 4)] = 0;
        var geometry = PrefixGeometry.Of(prefix);
        var all = BiasSpan.Measure(model, geometry, tokens);
        var rows = Enumerable.Range(4, 8).Select(row => BiasSpan.Measure(model, geometry, tokens, row)).ToList();
        for (int i = 0; i < all.Count; i++)
        {
            // Every row has as many samples, so the mean over rows is the mean over all content queries.
            Assert.Equal(all[i].PrefixMass, rows.Average(r => r[i].PrefixMass), 10);
            Assert.Equal(all[i].EffectivePositions, rows.Average(r => r[i].EffectivePositions), 10);
        }
        // Different rows attend differently, so a single row is not the average.
        Assert.Contains(rows, r => Math.Abs(r[0].PrefixMass - all[0].PrefixMass) > 1e-6);
        Assert.Throws<PrefixLabException>(() => BiasSpan.Measure(model, geometry, tokens, 3));
        Assert.Throws<PrefixLabException>(() => BiasSpan.Measure(model, geometry, tokens, 12));
    }

    [Fact]
    public void Heatmaps_render_a_non_blank_png_of_the_expected_size_and_rescaling_hides_the_prefix()
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 32, blockSize: 21);
        random.manual_seed(4);
        using var prefix = new Prefix(model, new PromptSettings { PrefixSize = 1 });
        using var tokens = AnalysisInputs.Sequences(model, 1, [[2, 6, 0, 1, 4, 6, 3, 0, 1, 2]], 10);
        Assert.Equal([1L, 21], tokens.shape);
        using var recording = AttentionRecorder.Record(model, tokens);
        var maps = AttentionMaps.Build(recording, PrefixGeometry.Of(prefix), padding: 1, inputLength: 10, rescalePrefix: false);
        Assert.Equal(4, maps.Count);
        Assert.Equal("p1", maps[0].KeyLabels[0]);
        Assert.Equal("2", maps[0].KeyLabels[1]);
        Assert.Equal([1, 11], maps[0].KeyBoundaries);

        var rescaled = AttentionMaps.Build(recording, PrefixGeometry.Of(prefix), 1, 10, rescalePrefix: true, layer: 1, head: 0);
        var map = Assert.Single(rescaled);
        Assert.Equal((20, 20), (map.Weights.GetLength(0), map.Weights.GetLength(1)));
        for (int r = 0; r < 20; r++)
        {
            Assert.Equal(1.0, Enumerable.Range(0, 20).Sum(c => map.Weights[r, c]), 9);
        }

        string path = Path.Combine(TestModels.TempDirectory(), "attention.png");
        AttentionHeatmaps.SavePng(path, maps, panelSize: 300);
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal((600, 600), (bitmap.Width, bitmap.Height));
        var colours = new HashSet<uint>();
        for (int y = 0; y < bitmap.Height; y += 3)
        {
            for (int x = 0; x < bitmap.Width; x += 3)
            {
                colours.Add((uint)bitmap.GetPixel(x, y));
            }
        }
        Assert.True(colours.Count > 50, $"{colours.Count} colours: the image is blank");
    }
}
