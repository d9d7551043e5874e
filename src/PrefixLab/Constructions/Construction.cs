using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// A transformer built by hand (paper Section 3): an ordinary <see cref="Gpt"/> whose weights are set,
/// not trained, and the shape of its inputs: <see cref="VirtualTokens"/> virtual tokens, then
/// <see cref="InputTokens"/> user tokens, then <see cref="OutputTokens"/> greedily generated ones.
/// The virtual tokens are a <see cref="SoftPrompt"/>'s vectors (<see cref="Attach"/>).
/// </summary>
public sealed class Construction : IDisposable
{
    internal Construction(string kind, Gpt model, int virtualTokens, int inputTokens, int outputTokens)
    {
        Kind = kind;
        Model = model;
        VirtualTokens = virtualTokens;
        InputTokens = inputTokens;
        OutputTokens = outputTokens;
    }

    /// <summary>Which construction: unconditional, map, seq-map, pair-map.</summary>
    public string Kind { get; }

    /// <summary>The model, in evaluation mode, in float32 or float64.</summary>
    public Gpt Model { get; }

    /// <summary>Number of virtual tokens in front of the input.</summary>
    public int VirtualTokens { get; }

    /// <summary>Number of user tokens after the virtual tokens.</summary>
    public int InputTokens { get; }

    /// <summary>Number of tokens the construction generates.</summary>
    public int OutputTokens { get; }

    /// <summary>The model's floating-point type.</summary>
    public ScalarType DType => Model.parameters().First().dtype;

    /// <summary>
    /// Attaches <paramref name="virtualTokens"/> (<c>[virtual tokens, width]</c>) as a soft prompt: an
    /// ordinary adapter that can be saved and loaded again. Dispose it to detach.
    /// </summary>
    public SoftPrompt Attach(Tensor virtualTokens)
    {
        var prompt = new SoftPrompt(Model, new PromptSettings { PrefixSize = VirtualTokens });
        prompt.LoadTensors(new Dictionary<string, Tensor> { ["prompt.embeddings"] = virtualTokens });
        return prompt;
    }

    /// <summary>
    /// The model's own greedy generation, for a batch whose rows each have their own virtual tokens
    /// (<c>[batch, virtual tokens, width]</c>) and user tokens (<c>[batch, input tokens]</c>). A hook
    /// on the first block's input puts each row's vectors at its padding positions, as a soft prompt
    /// does for one row; this only lets exhaustive checks run every target in one batch.
    /// Returns the generated tokens, <c>[batch, output tokens]</c>.
    /// </summary>
    public Tensor Generate(Tensor virtualTokens, Tensor inputs)
    {
        long batch = virtualTokens.shape[0];
        PrefixLabException.Check(inputs.shape[0] == batch && inputs.shape[1] == InputTokens, $"{Kind} takes {InputTokens} user tokens per row");
        var vectors = virtualTokens.to_type(DType);
        using var hook = Model.Hooks.Add(HookPoints.ResidPre(0), (activation, context) =>
        {
            if (context.Position >= VirtualTokens)
            {
                return activation;
            }
            var rows = vectors[.., context.Position..];
            return cat([rows, activation[.., (int)rows.shape[1]..]], 1);
        });
        using var pads = zeros(batch, VirtualTokens, dtype: ScalarType.Int64);
        using var prompt = cat([pads, inputs], 1);
        return Generation.Greedy(Model, prompt, OutputTokens);
    }

    /// <summary>
    /// Generation with <paramref name="virtualTokens"/> (<c>[virtual tokens, width]</c>) attached as a
    /// <see cref="SoftPrompt"/>, for each of <paramref name="inputs"/> (user tokens): the path a saved
    /// model and adapter take. Returns the generated tokens of each input.
    /// </summary>
    public long[][] GenerateWithSoftPrompt(Tensor virtualTokens, IReadOnlyList<IReadOnlyList<int>> inputs)
    {
        using var prompt = Attach(virtualTokens);
        using var scope = NewDisposeScope();
        var rows = inputs.Select(i => Targets.Check(i, InputTokens, Model.Config.VocabSize, "input")).ToList();
        var tokens = tensor([.. rows.SelectMany(r => Enumerable.Repeat(0L, VirtualTokens).Concat(r.Select(t => (long)t)))], dtype: ScalarType.Int64)
            .view(rows.Count, VirtualTokens + InputTokens);
        var generated = Generation.Greedy(Model, tokens, OutputTokens).data<long>().ToArray();
        return [.. Enumerable.Range(0, rows.Count).Select(i => generated[(i * OutputTokens)..((i + 1) * OutputTokens)])];
    }

    /// <summary>
    /// Writes the model (<c>model.safetensors</c>) and <paramref name="virtualTokens"/> as a soft-prompt
    /// adapter of it (<c>virtual.safetensors</c>) into <paramref name="directory"/>: ordinary PrefixLab
    /// files, written atomically. Returns their paths.
    /// </summary>
    public (string Model, string Adapter) Save(string directory, Tensor virtualTokens)
    {
        string modelPath = Path.Combine(directory, "model.safetensors");
        string adapterPath = Path.Combine(directory, "virtual.safetensors");
        string task = $"construct {Kind}";
        ModelFile.Save(modelPath, Model, new ModelInfo(Model.Config, VirtualTokens, task));
        using var prompt = Attach(virtualTokens);
        AdapterFile.Save(adapterPath, prompt, new AdapterInfo(prompt.Name, prompt.Settings, AdapterFile.Fingerprint(Model), VirtualTokens, task, 0));
        return (modelPath, adapterPath);
    }

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
