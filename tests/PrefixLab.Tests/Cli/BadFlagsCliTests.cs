using PrefixLab.Interop;

namespace PrefixLab.Tests.Cli;

/// <summary>
/// Issue 17, items 2 and 6: every option has a range, checked before any long work, and a value
/// outside it (or a missing, empty, unknown or extra argument) ends the command with exactly one
/// line on stderr and exit code 2 – never a crash, exit code 1 or a silent default.
/// </summary>
public class BadFlagsCliTests
{
    // A 1-layer model of width 16 (so LoRA's rank is at most 16) with 20 positions and 1 padding position.
    private static readonly Lazy<string> Model = new(() =>
    {
        string path = Path.Combine(TestModels.TempDirectory(), "m.safetensors");
        using var model = TestModels.Create(layers: 1, heads: 1, width: 16, blockSize: 20);
        ModelFile.Save(path, model, new ModelInfo(model.Config, 1, "plus1"));
        return path;
    });

    [Theory]
    // The reproductions: a rank past the layers' widths aborted the process, a huge batch and
    // a huge --match rank ended in exit code 1 (--max-new 0, once exit code 1, is a test of its own).
    [InlineData("tune --model M --method lora --task plus1 --iters 2 --rank 100000 --out O", "--rank 100000 is above 16")]
    [InlineData("tune --model M --method prefix --task plus1 --iters 2 --batch 100000000 --out O", "option --batch must be between 1 and 65536")]
    [InlineData("params --model M --method prefix --match lora:rank=1000000000", "option --match: setting 'rank=1000000000'")]
    [InlineData("params --model M --method prefix --match lora:rank=17", "--match rank 17 is above 16")]
    [InlineData("generate --model M --tokens 1,2 --max-new -1", "option --max-new must be between 0 and")]
    [InlineData("generate --model M --tokens 1,2 --max-new 30", "exceed the model's 20 positions")]
    [InlineData("eval --model M --task plus1 extra", "unexpected argument 'extra'")]
    [InlineData("pretrain --task plus1 --out O --eval-every 0", "option --eval-every must be between 1 and")]
    [InlineData("tune --model M --method prefix --task plus1 --out O", "missing required option --iters")]
    // Every command: numbers out of range, negative, huge or not numbers; empty, missing and unknown words.
    [InlineData("pretrain --task plus1 --out O --iters 0", "option --iters must be between 1 and 100000000")]
    [InlineData("pretrain --task plus1 --out O --heads 7", "option --width 96 must be a multiple of --heads 7")]
    [InlineData("pretrain --task plus1 --out O --lr 0", "option --lr must be more than 0 and at most 10")]
    [InlineData("pretrain --task plus1 --out O --batch 65536 --width 16384 --layers 256", "option --batch 65536 needs at least")]
    [InlineData("pretrain --task plus1 --out", "option --out needs a value")]
    [InlineData("tune --model M --method prefix --task plus1 --iters 2 --prefix-size 30 --out O", "--prefix-size 30 leaves no position")]
    [InlineData("tune --model M --method hard-prompt --task plus1 --tokens 1,99 --out O", "token 99 is outside the model's vocabulary")]
    [InlineData("tune --model M --method hard-prompt --task plus1 --tokens 1 --iters 5 --out O", "hard-prompt trains nothing")]
    [InlineData("eval --model M --task plus1 --samples -5", "option --samples must be between 1 and 1000000")]
    [InlineData("eval --model M --task plus1 --prefix-size 5", "needs 24 positions, the model has 20")]
    [InlineData("params --model M --method prefix --prefix-size 0", "option --prefix-size must be between 1")]
    [InlineData("params --model M --method lora --match prefix:prefix-size=20", "--match prefix-size 20 leaves no position")]
    [InlineData("verify --model M --adapter none.safetensors --samples 0", "option --samples must be between 1 and 100000")]
    [InlineData("verify --model M --adapter none.safetensors --tolerance -1", "option --tolerance must be at least 0")]
    [InlineData("bias --model M --adapter none.safetensors --seed -1", "option --seed must be between 0")]
    [InlineData("bias --model M --adapter none.safetensors --samples many", "option --samples needs a whole number")]
    [InlineData("attention --model M --input 1,2 --out O --head -1", "option --head must be between 0")]
    [InlineData("attention --model M --input 1,2 --out O --layer 3", "--layer must be between 0 and 0")]
    [InlineData("completions --model M --length 0", "option --length must be between 1")]
    [InlineData("completions --model M --batch 100000000", "option --batch must be between 1 and 65536")]
    [InlineData("completions --model M --adapters ,", "option --adapters names no file")]
    [InlineData("construct pair-map --random --vocab 5 --seed -1", "option --seed must be between 0")]
    [InlineData("construct capacity --vocab 10 --length 0", "option --length must be between 1")]
    [InlineData("construct unconditional --text hi --save M", "is a regular file, not a folder")]
    [InlineData("reproduce --seeds 0", "option --seeds must be between 1 and 100")]
    [InlineData("reproduce --only ,", "option --only names no spec")]
    [InlineData("reproduce --out M", "is a regular file, not a folder")]
    [InlineData("bench --steps -1", "option --steps must be between 1 and 10000")]
    [InlineData("bench now", "unexpected argument 'now'")]
    [InlineData("curves --out O", "curves needs at least one log file")]
    [InlineData("curves none.log.jsonl --out O --metric speed", "--metric must be accuracy, validation or loss")]
    public void A_bad_option_ends_with_one_line_and_exit_code_2(string args, string expected)
    {
        string output = Path.Combine(TestModels.TempDirectory(), "out.safetensors");
        var argv = args.Split(' ').Select(a => a switch
        {
            "M" => Model.Value,
            "O" => output,
            _ => a,
        }).ToArray();
        var (code, stdout, stderr) = CliTests.Run(argv);
        OutputSafetyCliTests.AssertRefusedBeforeTraining(code, stdout, stderr, expected);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Generate_max_new_0_loads_the_model_and_generates_nothing()
    {
        // Once exit code 1 (reading the data of an empty tensor); now defined: an empty continuation.
        var (code, stdout, stderr) = CliTests.Run("generate", "--model", Model.Value, "--tokens", "1 2", "--max-new", "0");
        Assert.True(code == 0, stderr);
        Assert.Equal("", stdout.Trim());
        (code, stdout, stderr) = CliTests.Run("generate", "--model", Model.Value, "--tokens", "1 2", "--max-new", "2");
        Assert.True(code == 0, stderr);
        Assert.Equal(2, stdout.Trim().Split(' ').Length);
    }
}
