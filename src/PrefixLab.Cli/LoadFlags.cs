using System.CommandLine;
using PrefixLab.Interop;
using static TorchSharp.torch;

namespace PrefixLab.Cli;

/// <summary>
/// <c>--allow-nonfinite</c> and <c>--dtype</c>, shared by the commands that load a model or an adapter:
/// weights holding NaN or ±∞ are refused (exit 2) unless it is given; with it they load and one warning
/// goes to stderr. <c>--dtype</c> chooses a Llama-family folder's compute type.
/// </summary>
internal sealed class LoadFlags : IOptionGroup
{
    private readonly Option<bool> allowNonFinite = Opt.Flag("--allow-nonfinite", "load weights holding NaN or ±∞ (one warning) instead of refusing the file");
    private readonly Option<ScalarType?> dtype = Opt.ParsedValue("--dtype", "f32|bf16",
        "the compute type of a Llama, Mistral or Qwen2 folder (bf16 matmuls run faster; a GPT model runs in the type it is stored in)", ParseDtype, "f32");

    public IEnumerable<Option> Options => [allowNonFinite, dtype];

    /// <summary>The load options the command line asks for.</summary>
    public LoadOptions Read(ParseResult parse) => new()
    {
        AllowNonFinite = parse.GetValue(allowNonFinite),
        Dtype = parse.GetValue(dtype),
        Warn = message => Console.Error.WriteLine($"prefixlab: warning: {message}"),
    };

    private static ScalarType ParseDtype(string text) => text switch
    {
        "f32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        _ => throw new PrefixLabException($"--dtype is f32 or bf16, not '{text}'"),
    };
}
