using PrefixLab.Interop;

namespace PrefixLab.Tests.Cli;

public class PrecisionCliTests
{
    [Fact]
    public void Pretrain_with_bf16_records_it_in_the_model_file_and_f32_writes_no_such_key()
    {
        string dir = TestModels.TempDirectory();
        string bf16 = Path.Combine(dir, "bf16.safetensors"), f32 = Path.Combine(dir, "f32.safetensors");
        var (code, _, stderr) = CliTests.Run("pretrain", "--task", "ascending", "--iters", "20", "--width", "16", "--precision", "bf16", "--out", bf16);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliTests.Run("pretrain", "--task", "ascending", "--iters", "20", "--width", "16", "--out", f32);
        Assert.True(code == 0, stderr);
        Assert.Contains("\"precision\":\"bf16\"", SafeTensors.ReadMetadata(bf16)["model"], StringComparison.Ordinal);
        Assert.DoesNotContain("precision", SafeTensors.ReadMetadata(f32)["model"], StringComparison.Ordinal);
        Assert.Equal("bf16", ModelFile.Load(bf16).Info.Precision);
        // The model file is float32 whatever the products were: it loads and scores as any other.
        (code, var stdout, stderr) = CliTests.Run("eval", "--model", bf16, "--task", "ascending", "--samples", "20");
        Assert.True(code == 0, stderr);
        Assert.Contains("ascending", stdout);
    }

    [Theory]
    [InlineData("pretrain")]
    [InlineData("tune")]
    public void A_precision_out_of_range_is_one_line_and_exit_2(string command)
    {
        // Everything else given, so the precision is the one thing wrong (tune's model need not exist for that).
        string[] rest = command == "tune" ? ["--model", "m.safetensors", "--method", "prefix"] : [];
        var (code, _, stderr) = CliTests.Run([command, "--task", "ascending", "--precision", "fp16", "--out", Path.Combine(TestModels.TempDirectory(), "m.safetensors"), .. rest]);
        Assert.Equal(2, code);
        Assert.Contains("--precision must be f32 or bf16 (got 'fp16')", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
