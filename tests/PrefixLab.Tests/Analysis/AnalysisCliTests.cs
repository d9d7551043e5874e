using System.Globalization;
using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using SkiaSharp;
using static TorchSharp.torch;

using PrefixLab.Tests.Tuning;

namespace PrefixLab.Tests.Analysis;

/// <summary>verify, bias and attention run as a user runs them, on files written here (no training).</summary>
public class AnalysisCliTests
{
    [Fact]
    public void Verify_finds_the_identities_for_a_prefix_in_both_precisions_and_a_shift_for_fine_tuned_queries()
    {
        var (dir, model) = SaveModel();
        string prefix = SaveAdapter(dir, model, "prefix", 3);
        string tuned = Path.Combine(dir, "full.safetensors");
        using (var full = TestModels.Create(layers: 2, heads: 2, width: 16, blockSize: 22, seed: 1))
        using (no_grad())
        {
            random.manual_seed(5);
            full.state_dict()["transformer.h.0.attn.c_attn.weight"][TensorIndex.Slice(0, 16)].add_(randn(16, 16));
            ModelFile.Save(tuned, full, new ModelInfo(full.Config, 3, "descending"));
        }

        foreach (var (extra, tolerance) in new[] { (Array.Empty<string>(), 1e-5), (["--double"], 1e-12) })
        {
            var heads = Verify(model, prefix, extra);
            Assert.All(heads.Where(h => h.GetProperty("layer").GetInt32() == 0), h =>
            {
                Assert.InRange(h.GetProperty("content_attention_error").GetDouble(), 0, tolerance);
                Assert.InRange(h.GetProperty("biased_mix_error").GetDouble(), 0, tolerance);
                Assert.True(h.GetProperty("alpha_max").GetDouble() > 1e-3);
            });
        }

        var shifted = Verify(model, tuned, []);
        Assert.All(shifted.Where(h => h.GetProperty("layer").GetInt32() == 0), h =>
        {
            Assert.True(h.GetProperty("content_attention_error").GetDouble() > 1e-2);
            Assert.True(h.GetProperty("shift").GetProperty("tv_max").GetDouble() > 1e-2);
            Assert.Equal(JsonValueKind.Null, h.GetProperty("biased_mix_error").ValueKind);
        });

        var (code, stdout, stderr) = CliTests.Run("verify", "--model", model, "--adapter", prefix, "--input", "2 6 0 1 4 6 3 0 1 2");
        Assert.True(code == 0, stderr);
        Assert.Contains("(a) vs plain", stdout);
        Assert.Contains("C2 and C3 hold within 1E-05: first layer (a) max error", stdout);

        // A tolerance below what float32 rounding reaches fails the check and points to --double.
        (code, stdout, stderr) = CliTests.Run("verify", "--model", model, "--adapter", prefix, "--input", "2 6 0 1 4 6 3 0 1 2", "--tolerance", "0");
        Assert.True(code == 0, stderr);
        Assert.Contains("C2 and C3 DO NOT hold within 0E+00", stdout);
        Assert.Contains("--double checks the same", stdout);
    }

    [Fact]
    public void Bias_and_attention_write_what_they_promise_and_bias_refuses_a_method_without_prefix()
    {
        var (dir, model) = SaveModel();
        string kv = SaveAdapter(dir, model, "prefix-kv", 2);
        const string input = "2 6 0 1 4 6 3 0 1 2";
        var (code, stdout, stderr) = CliTests.Run("bias", "--model", model, "--adapter", kv, "--input", input, "--json");
        Assert.True(code == 0, stderr);
        string weights = Path.Combine(dir, "all-layers.csv");
        (code, _, stderr) = CliTests.Run("attention", "--model", model, "--adapter", kv, "--input", input, "--out", Path.Combine(dir, "all-layers.png"), "--csv", weights);
        Assert.True(code == 0, stderr);
        // From the attention weights themselves: per head, each query's attention over the 2 prefix keys,
        // renormalised, has exp(entropy) between 1 and 2; bias reports its mean over the content queries.
        var spread = File.ReadAllLines(weights).Skip(1).Select(l => l.Split(','))
            .Where(f => int.Parse(f[4], CultureInfo.InvariantCulture) < 2)
            .GroupBy(f => (Layer: int.Parse(f[0], CultureInfo.InvariantCulture), Head: int.Parse(f[1], CultureInfo.InvariantCulture)))
            .ToDictionary(g => g.Key, g => g.GroupBy(f => f[2]).Average(q =>
            {
                double[] w = [.. q.Select(f => double.Parse(f[6], CultureInfo.InvariantCulture))];
                return Math.Exp(-w.Sum(x => x / w.Sum() * Math.Log(x / w.Sum())));
            }));
        using (var json = JsonDocument.Parse(stdout))
        {
            var heads = json.RootElement.GetProperty("heads").EnumerateArray().ToList();
            Assert.Equal(4, heads.Count);
            Assert.All(heads, h => Assert.Equal(2, h.GetProperty("vectors").GetArrayLength()));
            Assert.All(heads, h => Assert.Equal(spread[(h.GetProperty("layer").GetInt32(), h.GetProperty("head").GetInt32())], h.GetProperty("effective_positions").GetDouble(), 5));
        }

        string png = Path.Combine(dir, "maps.png"), csv = Path.Combine(dir, "maps.csv");
        (code, _, stderr) = CliTests.Run("attention", "--model", model, "--adapter", kv, "--input", "2 6 0 1 4 6 3 0 1 2", "--out", png, "--csv", csv, "--layer", "1");
        Assert.True(code == 0, stderr);
        using (var bitmap = SKBitmap.Decode(png))
        {
            Assert.Equal((960, 480), (bitmap.Width, bitmap.Height)); // one layer, two heads
            Assert.True(Enumerable.Range(0, 100).Select(i => bitmap.GetPixel(i * 9, 240)).Distinct().Count() > 5);
        }
        var lines = File.ReadAllLines(csv);
        // The key/value prefix takes 2 of the 22 positions: 2 heads × 20 queries × (2 prefix + 20) keys.
        Assert.Equal(1 + (2 * 20 * 22), lines.Length);
        Assert.StartsWith("layer,head,query,query_token,key,key_token,weight", lines[0]);

        (code, _, stderr) = CliTests.Run("bias", "--model", model, "--adapter", model);
        Assert.Equal(2, code);
        Assert.Contains("needs a prefix method", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    private static List<JsonElement> Verify(string model, string adapter, string[] extra)
    {
        var (code, stdout, stderr) = CliTests.Run(["verify", "--model", model, "--adapter", adapter, "--task", "descending", "--samples", "6", "--json", .. extra]);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        return [.. json.RootElement.GetProperty("heads").EnumerateArray().Select(h => h.Clone())];
    }

    private static (string Dir, string Model) SaveModel()
    {
        string dir = TestModels.TempDirectory();
        string path = Path.Combine(dir, "model.safetensors");
        using var model = TestModels.Create(layers: 2, heads: 2, width: 16, blockSize: 22, seed: 1);
        ModelFile.Save(path, model, new ModelInfo(model.Config, 3, "ascending"));
        return (dir, path);
    }

    private static string SaveAdapter(string dir, string modelPath, string method, int size)
    {
        string path = Path.Combine(dir, $"{method}.safetensors");
        var (model, _) = ModelFile.Load(modelPath);
        using (model)
        {
            string fingerprint = AdapterFile.Fingerprint(model);
            random.manual_seed(7);
            var settings = TestSettings.For(method, prefixSize: size);
            using var adapter = TuningMethods.Create(method, model, settings);
            AdapterFile.Save(path, adapter, new AdapterInfo(method, settings, fingerprint, adapter.InputPadding(3), "descending", 0));
        }
        return path;
    }
}
