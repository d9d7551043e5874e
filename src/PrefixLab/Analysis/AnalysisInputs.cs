using PrefixLab.Model;
using PrefixLab.Tasks;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>The sequences the analyses run on: padding, an input, and the model's own continuation.</summary>
public static class AnalysisInputs
{
    /// <summary>
    /// Sequences <c>[batch, position]</c>: <paramref name="prefixSize"/> padding tokens, each input, and
    /// up to <paramref name="newTokens"/> tokens that <paramref name="model"/> (with its adapter) generates
    /// greedily, as many as the model's block size lets it read.
    /// </summary>
    public static Tensor Sequences(ILanguageModel model, int prefixSize, IReadOnlyList<int[]> inputs, int newTokens)
    {
        PrefixLabException.Check(inputs.Count > 0, "no inputs given");
        int length = inputs[0].Length;
        PrefixLabException.Check(length > 0 && inputs.All(i => i.Length == length), "inputs must be non-empty and of one length");
        int vocab = model.Shape.VocabSize;
        PrefixLabException.Check(inputs.All(i => i.All(t => t >= 0 && t < vocab)), $"input tokens must be between 0 and {vocab - 1}");
        var layout = new SequenceLayout(prefixSize, length, 0);
        // A key/value prefix in front takes positions of the block too.
        int blockSize = model.SequenceCapacity;
        PrefixLabException.Check(layout.PromptLength <= blockSize, $"{prefixSize} padding positions and {length} input tokens need {layout.PromptLength} positions, the model has {blockSize}{(model.PositionShift > 0 ? " after its key/value prefix" : "")}");
        // The last generated token is never read, so generation may end one position past the block.
        int generate = Math.Clamp(newTokens, 0, blockSize - layout.PromptLength + 1);
        using var prompts = layout.Prompts(inputs);
        using var generated = Generation.Greedy(model, prompts, generate);
        using var full = cat([prompts, generated], 1);
        return full[TensorIndex.Colon, TensorIndex.Slice(0, Math.Min(full.shape[1], blockSize))].clone();
    }
}
