using System.CommandLine;
using System.Text;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class VerifyCommand : CliCommand
{
    private readonly Option<string> model = Opt.Required("--model", "PATH", "a PrefixLab model file or a Hugging Face folder (GPT-2, Llama, Mistral, Qwen2)");
    private readonly Option<string> adapter = Opt.Required("--adapter", "PATH", "soft-prompt, hard-prompt, prefix or prefix-kv adapter; LoRA adapters and fully fine-tuned models (a model file or Hugging Face folder) get the attention shift only");
    private readonly AnalysisInputOptions inputs = new(32);
    private readonly Option<bool> float64 = Opt.Flag("--double", "run model and adapter in float64");
    private readonly Option<double?> tolerance = Opt.DoubleOrNull("--tolerance", "largest error that counts as rounding", 0, 1, defaultText: "1e-5 in float32, 1e-12 with --double");
    private readonly Option<bool> json = Opt.Flag("--json", "print one JSON object");
    private readonly LoadFlags loadFlags = new();

    public VerifyCommand()
        : base("verify", "check that a prefix leaves content attention alone and only biases each head (C2, C3)", """
            Per layer and head: (a) max |renormalised content attention with − without the adapter| and on the
            layer's own inputs, (b) max |head output − (Σ_prefix A·v + (1 − α)·t̂)|, t̂ with against without,
            the range of α, and the shift of the content attention (KL(with ‖ without), total variation).
            """)
    {
        Declare([model, adapter, .. inputs.Options, float64, tolerance, json, .. loadFlags.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string modelPath = parse.GetRequiredValue(model);
        string adapterPath = parse.GetRequiredValue(adapter);
        var input = inputs.Read(parse);
        bool inFloat64 = parse.GetValue(float64);
        double maxError = parse.GetValue(tolerance) ?? (inFloat64 ? 1e-12 : 1e-5);
        var load = loadFlags.Read(parse);

        using var adapted = AdaptedModel.Load(modelPath, adapterPath, load);
        using var plain = AdaptedModel.Load(modelPath, null, load);
        if (inFloat64)
        {
            adapted.ToFloat64();
            plain.ToFloat64();
        }
        var geometry = PrefixGeometry.Of(adapted.Method);
        var (lists, newTokens) = input.Resolve(adapted.Task, modelPath);
        using var tokens = AnalysisInputs.Sequences(adapted.Model, adapted.PrefixSize, lists, newTokens);
        var checks = PrefixIdentities.Check(adapted.Model, plain.Model, geometry, tokens);
        string precision = inFloat64 ? "float64" : "float32";
        if (parse.GetValue(json))
        {
            var report = new { Method = adapted.MethodName, Form = geometry.Form.ToString(), geometry.Size, Samples = lists.Count, Positions = tokens.shape[1], Precision = precision, Heads = checks };
            Console.WriteLine(JsonSerializer.Serialize(report, ModelFile.Json));
            return 0;
        }
        Console.WriteLine($"{adapted.MethodName} ({geometry.Form}, P = {geometry.Size}) on {lists.Count} sequence(s) of {tokens.shape[1]} positions, {precision}");
        Console.Write(Table(checks));
        Console.WriteLine(Verdict(checks, geometry, maxError, inFloat64));
        return 0;
    }

    private static string Table(IReadOnlyList<HeadCheck> checks)
    {
        var text = new StringBuilder();
        text.AppendLine("layer head  (a) vs plain  (a) own      (b) mix      t̂ vs plain   α min    α max    KL mean    KL max     TV mean    TV max");
        foreach (var c in checks)
        {
            string mix = c.BiasedMixError is double b ? $"{b,-12:0.00E+00}" : $"{"-",-12}";
            text.AppendLine($"{c.Layer,-5} {c.Head,-5} {c.ContentAttentionError,-13:0.00E+00} {c.OwnContentError,-12:0.00E+00} {mix} {c.ContentOutputError,-12:0.00E+00} {c.AlphaMin,-8:F4} {c.AlphaMax,-8:F4} {c.Shift.KlMean,-10:0.00E+00} {c.Shift.KlMax,-10:0.00E+00} {c.Shift.TvMean,-10:0.00E+00} {c.Shift.TvMax:0.00E+00}");
        }
        return text.ToString();
    }

    /// <summary>One line: the first layer's errors against what rounding in the run's precision allows.</summary>
    private static string Verdict(IReadOnlyList<HeadCheck> checks, PrefixGeometry geometry, double tolerance, bool float64)
    {
        var first = checks.Where(c => c.Layer == 0).ToList();
        double a = first.Max(c => c.ContentAttentionError);
        double shift = checks.Max(c => c.Shift.TvMax);
        if (geometry.Form == PrefixForm.None)
        {
            return $"no prefix: the content attention moved by up to {a:0.00E+00} at the first layer (largest total variation over all layers {shift:0.00E+00})";
        }
        double b = checks.Max(c => c.BiasedMixError ?? 0);
        double own = checks.Max(c => c.OwnContentError);
        bool hold = a < tolerance && own < tolerance && b < tolerance;
        // Rounding error in float32 grows with the size of the activations (sharp attention, large
        // values), so a miss there may be rounding rather than a violation: float64 tells them apart.
        string hint = hold || float64 ? "" : " (float32 rounding grows with the activations: --double checks the same at 1E-12)";
        return $"C2 and C3 {(hold ? "hold" : "DO NOT hold")} within {tolerance:0E+00}: first layer (a) max error {a:0.00E+00}; over all layers (a) own {own:0.00E+00}, (b) {b:0.00E+00}; cross-layer shift up to total variation {shift:0.00E+00}{hint}";
    }
}
