using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests;

/// <summary>Small randomly initialised models for tests.</summary>
internal static class TestModels
{
    public static Gpt Create(int layers = 2, int heads = 2, int width = 32, int blockSize = 29, bool attnLayerNorm = true, long seed = 0)
    {
        var model = new Gpt(new GptConfig(11, blockSize, layers, heads, width, AttnLayerNorm: attnLayerNorm), seed);
        model.eval();
        return model;
    }

    public static Tensor RandomTokens(int batch, int length, long seed = 1)
    {
        random.manual_seed(seed);
        return randint(0, 11, [batch, length], dtype: ScalarType.Int64);
    }

    /// <summary>Same shape and bit-identical values.</summary>
    public static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>
    /// The first <paramref name="relativePath"/> that <paramref name="accepts"/> in the folders from the
    /// test binaries upwards: repository files (scripts, specs) found from wherever the tests run.
    /// </summary>
    public static string AboveTestBinaries(string relativePath, Func<string, bool> accepts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relativePath);
            if (accepts(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"{relativePath} not found above the test binaries");
    }

    public static string TempDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "prefixlab-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
