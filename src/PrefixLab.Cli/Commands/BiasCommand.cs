using System.Globalization;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class BiasCommand : ICommand
{
    public string Name => "bias";

    public string Summary => "the biases a prefix adds per head, their span, and how evenly it is attended (C3, C6)";

    public string Usage => """
        prefixlab bias --model FILE --adapter FILE [options]
          --adapter FILE   a soft-prompt, hard-prompt, prefix or prefix-kv adapter
          --task T         average over test inputs of T (default: the task the adapter was trained on)
          --input "..."    or over this one input list
          --prompt TEXT    or on this text, tokenized with GPT-2's BPE (--tokenizer DIR, default the model directory)
          --samples N      test inputs, 1-100000 (default 64)
          --seed S         which test inputs, 0 or more (default 0)
          --last-input     measure only the last input token's attention (as the paper's appendix does),
                           not every content query
          --json           print one JSON object, with the bias vectors
        Per layer and head: the norms of the P bias vectors v(s_k), the singular values of their span and
        its effective dimension, the mean attention mass on the prefix, and the entropy and effective
        number of prefix positions that attention spreads over.
        """ + "\n" + LoadFlags.Usage;

    public int Run(Arguments args)
    {
        string modelPath = args.Required("model");
        string adapterPath = args.Required("adapter");
        var inputs = AnalysisInputOptions.Read(args, 64);
        bool lastInput = args.Flag("last-input");
        bool json = args.Flag("json");
        var load = LoadFlags.Read(args);
        args.EnsureAllUsed();

        using var adapted = AdaptedModel.Load(modelPath, adapterPath, load);
        var geometry = PrefixGeometry.Of(adapted.Method);
        var (lists, newTokens) = inputs.Resolve(adapted.Task, modelPath);
        using var tokens = AnalysisInputs.Sequences(adapted.Model, adapted.PrefixSize, lists, newTokens);
        int? queryRow = lastInput ? adapted.PrefixSize + lists[0].Length - 1 : null;
        var heads = BiasSpan.Measure(adapted.Model, geometry, tokens, queryRow);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { Method = adapted.MethodName, Form = geometry.Form.ToString(), geometry.Size, Samples = lists.Count, Heads = heads }, ModelFile.Json));
            return 0;
        }
        string queries = lastInput ? $"the last input token (row {queryRow})" : "every content query";
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
