using PrefixLab.Interop;
using Xunit;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Loading a checkpoint into another float type converts each tensor through a small buffer, and the
/// finiteness check sums instead of building a mask: both must give what the plain operations give.
/// </summary>
public sealed class TensorConversionTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("prefixlab-conv-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(ScalarType.Float32, ScalarType.BFloat16, 1000L)] // 250 values a piece: 1,003 values take 5 pieces, the last of 3
    [InlineData(ScalarType.Float32, ScalarType.Float16, 4L)]
    [InlineData(ScalarType.BFloat16, ScalarType.Float32, 6L)] // 3 values a piece
    [InlineData(ScalarType.Float32, ScalarType.Float64, 1L << 20)] // one piece holds the whole tensor
    public void Converting_piece_by_piece_equals_converting_the_whole_tensor(ScalarType stored, ScalarType target, long chunkBytes)
    {
        using var generator = new Generator(7);
        using var values = randn([17, 59], generator: generator).to_type(stored);
        using var small = randn([3], generator: generator).to_type(stored);
        string path = Path.Combine(dir, "w.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = values, ["b"] = small }, new Dictionary<string, string>());

        using var file = TensorFiles.Open(SafeTensors.ReadHeader(path), chunkBytes);
        using var intoA = empty([17, 59], target);
        using var intoB = empty([3], target);
        file.CopyInto("a", intoA, transpose: false, options: null);
        file.CopyInto("b", intoB, transpose: false, options: null);

        using var expectedA = values.to_type(target);
        using var expectedB = small.to_type(target);
        Assert.True(intoA.eq(expectedA).all().item<bool>());
        Assert.True(intoB.eq(expectedB).all().item<bool>());
    }

    [Fact]
    public void A_tensor_of_another_size_is_refused_by_the_piecewise_reader()
    {
        string path = Path.Combine(dir, "w.safetensors");
        using var values = ones(10);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = values }, new Dictionary<string, string>());
        using var file = TensorFiles.Open(SafeTensors.ReadHeader(path), 8);
        using var into = empty([11], ScalarType.BFloat16);
        var error = Assert.Throws<PrefixLabException>(() => file.ConvertInto("a", into));
        Assert.Contains("'a' (10 values)", error.Message);
    }

    [Theory]
    [InlineData(new[] { 1f, 2f, 3f }, true)]
    [InlineData(new[] { 1f, float.NaN, 3f }, false)]
    [InlineData(new[] { 1f, float.PositiveInfinity, 3f }, false)]
    [InlineData(new[] { float.NegativeInfinity, 2f }, false)]
    [InlineData(new[] { float.PositiveInfinity, float.NegativeInfinity }, false)]
    [InlineData(new[] { 3e38f, 3e38f, 3e38f }, true)] // finite values whose sum overflows: checked one by one
    [InlineData(new[] { -3e38f, -3e38f, float.NaN }, false)]
    public void All_finite_agrees_with_a_value_by_value_check(float[] data, bool expected)
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float64 })
        {
            using var values = tensor(data).to_type(dtype);
            using var finite = isfinite(values);
            using var all = finite.all();
            Assert.Equal(expected, all.item<bool>()); // the independent check: isfinite on every value
            Assert.Equal(expected, LoadOptions.AllFinite(values));
        }
    }
}
