using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>Greedy decoding, with or without a key/value cache.</summary>
public static class Generation
{
    /// <summary>
    /// Appends <paramref name="newTokens"/> greedily chosen tokens to each row of <paramref name="prompt"/>
    /// (<c>[batch, position]</c>) and returns only the new tokens, <c>[batch, newTokens]</c>. The model runs
    /// in evaluation mode (no dropout) without gradients; its training mode is restored afterwards.
    /// With <paramref name="useCache"/> each step feeds only the newest token; the tokens are the same
    /// as without it.
    /// </summary>
    public static Tensor Greedy(ILanguageModel model, Tensor prompt, int newTokens, bool useCache = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(newTokens);
        bool wasTraining = model.Module.training;
        model.Module.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var cache = useCache ? new KvCache(model.Shape.Layers) : null;
            var generated = new List<Tensor>(newTokens);
            var sequence = prompt;
            var input = prompt;
            for (int step = 0; step < newTokens; step++)
            {
                // A step's intermediates go when the step ends, not at the end of the loop: over long
                // generations from wide models they would otherwise add up to gigabytes.
                using var stepScope = NewDisposeScope();
                var hidden = model.Hidden(input, cache);
                var next = model.Head(hidden[.., ^1..]).argmax(-1).MoveToOuterDisposeScope();
                generated.Add(next);
                // With the cache, the next step feeds only the new token: the whole sequence is not needed.
                if (!useCache)
                {
                    sequence = cat([sequence, next], 1).MoveToOuterDisposeScope();
                }
                input = useCache ? next : sequence;
            }
            var result = newTokens == 0 ? zeros(prompt.shape[0], 0, dtype: ScalarType.Int64) : cat(generated, 1);
            return result.MoveToOuterDisposeScope();
        }
        finally
        {
            if (wasTraining)
            {
                model.Module.train();
            }
        }
    }
}
