using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>The parameter groups of AdamW that every family uses.</summary>
internal static class WeightDecayGroups
{
    /// <summary>
    /// The weights of <paramref name="model"/>'s Linear layers, which get weight decay, and all other
    /// parameters (biases, norms, embeddings), which do not: minGPT's split.
    /// </summary>
    public static (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) Of(Module model)
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        var linearWeights = model.named_modules()
            .Where(m => m.module is Linear)
            .Select(m => m.name.Length == 0 ? "weight" : m.name + ".weight")
            .ToHashSet(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.named_parameters())
        {
            (linearWeights.Contains(name) ? decay : noDecay).Add(parameter);
        }
        return (decay, noDecay);
    }
}
