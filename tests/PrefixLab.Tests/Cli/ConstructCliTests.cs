using System.Text.Json;

namespace PrefixLab.Tests.Cli;

/// <summary>The paper's Section 3 demos through the real command-line app.</summary>
public class ConstructCliTests
{
    [Fact]
    public void Unconditional_demo_generates_the_text_and_its_saved_files_generate_it_again()
    {
        string dir = Path.Combine(TestModels.TempDirectory(), "u");
        var (code, stdout, stderr) = CliTests.Run("construct", "unconditional", "--text", "I love transformers!", "--save", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("generated: \"I love transformers!\"", stdout);

        (code, stdout, stderr) = CliTests.Run("generate", "--model", Path.Combine(dir, "model.safetensors"), "--adapter", Path.Combine(dir, "virtual.safetensors"), "--ascii", "--new", "20");
        Assert.True(code == 0, stderr);
        Assert.Equal("I love transformers!", stdout.TrimEnd('\n'));
    }

    [Theory]
    [InlineData("construct map --swap-case --input Hello", "\"Hello\" -> \"hELLO\"", "all 95 inputs: 95 answered")]
    [InlineData("construct seq-map --pairs A:lligator,B:ear", "A -> Alligator", "B -> Bear")]
    [InlineData("construct seq-map --animals-foods", "Z -> Zebra", "p -> pizza")]
    [InlineData("construct pair-map --random --vocab 10 --seed 0", "(float64)", "all 100 pairs: 100 answered")]
    public void The_papers_demos_run(string args, string expected, string alsoExpected)
    {
        var (code, stdout, stderr) = CliTests.Run(args.Split(' '));
        Assert.True(code == 0, stderr);
        Assert.Contains(expected, stdout);
        Assert.Contains(alsoExpected, stdout);
    }

    [Fact]
    public void Capacity_counts_real_against_virtual_tokens()
    {
        var (code, stdout, stderr) = CliTests.Run("construct", "capacity", "--vocab", "6", "--length", "5", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("exhaustive").GetBoolean());
        Assert.Equal(7_776, root.GetProperty("virtual_distinct").GetInt64());
        // 6^5 targets, every one reached by a virtual token; the real tokens carry no payload: one output.
        Assert.Equal(1, root.GetProperty("real_distinct").GetInt32());
    }

    [Theory]
    [InlineData("construct pair-map --random --vocab 9 --dtype float32", "largest exact V: 8")]
    [InlineData("construct pair-map --random --vocab 14", "largest exact V: 13")]
    [InlineData("construct capacity --vocab 4098 --length 2", "largest exact V: 4097")]
    [InlineData("construct seq-map --pairs A-lligator", "not INPUT:ANSWER")]
    public void Requests_past_the_exact_range_or_malformed_are_refused_in_one_line(string args, string expected)
    {
        var (code, _, stderr) = CliTests.Run(args.Split(' '));
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }

    [Fact]
    public void Text_past_the_width_built_is_refused_with_the_reason()
    {
        var (code, _, stderr) = CliTests.Run("construct", "unconditional", "--text", new string('a', 1400));
        Assert.Equal(2, code);
        Assert.Contains("memory bound, not a precision bound", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
