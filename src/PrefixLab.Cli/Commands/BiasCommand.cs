using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class BiasCommand : CliCommand
{
    private readonly Option<string> model = Opt.Required("--model", "PATH", "a PrefixLab model file or a Hugging Face folder (GPT-2, Llama, Mistral, Qwen2)");
    private readonly Option<string> adapter = Opt.Required("--adapter", "PATH", "a soft-prompt, hard-prompt, prefix or prefix-kv adapter");
    private readonly AnalysisInputOptions inputs = new(64);
    private readonly Option<bool> lastInput = Opt.Flag("--last-input", "measure only the last input token's attention (as the paper's appendix does), not every content query");
    private readonly Option<bool> json = Opt.Flag("--json", "print one JSON object, with the bias vectors");
    private readonly LoadFlags loadFlags = new();

    public BiasCommand()
        : base("bias", "the biases a prefix adds per head, their span, and how evenly it is attended (C3, C6)", """
            Per layer and head: the norms of the P bias vectors v(s_k), the singular values of their span and
            its effective dimension, the mean attention mass on the prefix, and the entropy and effective
            number of prefix positions that attention spreads over.
            """)
    {
        Declare([model, adapter, .. inputs.Options, lastInput, json, .. loadFlags.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string modelPath = parse.GetRequiredValue(model);
        string adapterPath = parse.GetRequiredValue(adapter);
        var input = inputs.Read(parse);
        bool lastOnly = parse.GetValue(lastInput);
        var load = loadFlags.Read(parse);

        using var adapted = AdaptedModel.Load(modelPath, adapterPath, load);
        var geometry = PrefixGeometry.Of(adapted.Method);
        var (lists, newTokens) = input.Resolve(adapted.Task, modelPath);
        using var tokens = AnalysisInputs.Sequences(adapted.Model, adapted.PrefixSize, lists, newTokens);
        int? queryRow = lastOnly ? adapted.PrefixSize + lists[0].Length - 1 : null;
        var heads = BiasSpan.Measure(adapted.Model, geometry, tokens, queryRow);
        if (parse.GetValue(json))
        {
            Console.WriteLine(JsonSerializer.Serialize(new { Method = adapted.MethodName, Form = geometry.Form.ToString(), geometry.Size, Samples = lists.Count, Heads = heads }, ModelFile.Json));
            return 0;
        }
        string queries = lastOnly ? $"the last input token (row {queryRow})" : "every content query";
        Console.WriteLine($"{adapted.MethodName} ({geometry.Form}, P = {geometry.Size}), attention of {queries} averaged over {lists.Count} sequence(s)");
        Console.WriteLine("layer head  eff. dim  prefix mass  entropy  eff. positions  singular values; vector norms");
        foreach (var h in heads)
        {
            string singular = string.Join(" ", h.SingularValues.Select(s => s.ToString("G3", CultureInfo.InvariantCulture)));
            string norms = string.Join(" ", h.Vectors.Select(v => Math.Sqrt(v.Sum(x => x * x)).ToString("G3", CultureInfo.InvariantCulture)));
            Console.WriteLine($"{h.Layer,-5} {h.Head,-5} {h.EffectiveDimension,-9:F3} {h.PrefixMass,-12:F4} {h.Entropy,-8:F4} {h.EffectivePositions,-15:F3} {singular}; {norms}");
        }
        return 0;
    }
}
