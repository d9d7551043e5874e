using PrefixLab.Tests.Interop;

namespace PrefixLab.Tests.Cli;

/// <summary><c>prefixlab tokenize</c> on GPT-2's real vocabulary.</summary>
public class TokenizeCliTests
{
    [Fact]
    public void Tokenize_prints_gpt2s_ids_and_the_text_of_ids()
    {
        string dir = RealGpt2Vocabulary.Directory;
        var (code, stdout, stderr) = CliTests.Run("tokenize", "--tokenizer", dir, "--text", "x   y");
        Assert.True(code == 0, stderr);
        Assert.Equal("87 220 220 331", stdout.Trim());

        (code, stdout, stderr) = CliTests.Run("tokenize", "--tokenizer", dir, "--ids", "197 197 521 298");
        Assert.True(code == 0, stderr);
        Assert.Equal("\t\tindent\n", stdout);

        string file = Path.Combine(TestModels.TempDirectory(), "text.txt");
        File.WriteAllText(file, "end  ");
        (code, stdout, stderr) = CliTests.Run("tokenize", "--tokenizer", dir, "--file", file, "--speed");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("3 tokens from 5 bytes in ", stdout);
    }

    [Theory]
    [InlineData("--text a --ids 1", "give one of --text T, --file F or --ids")]
    [InlineData("--text a --speed", "--speed needs --file F")]
    [InlineData("--file nowhere.txt", "file not found: 'nowhere.txt'")]
    public void Bad_options_give_one_line_and_exit_code_2(string options, string expected)
    {
        var (code, _, stderr) = CliTests.Run(["tokenize", "--tokenizer", RealGpt2Vocabulary.Directory, .. options.Split(' ')]);
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
