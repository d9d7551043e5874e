using PrefixLab.Model;
using PrefixLab.Tasks;

namespace PrefixLab.Evaluation;

/// <summary>Accuracy on a text task: an example counts when greedy decoding produces its label's tokens.</summary>
public static class TextEvaluator
{
    /// <summary>
    /// Scores <paramref name="model"/> (with whatever is attached to it) on the test split of
    /// <paramref name="samples"/> (or <paramref name="split"/>), or its first <paramref name="limit"/> examples. Prompts of one length
    /// are decoded together (no padding, so no attention mask is needed), as many tokens as the longest
    /// answer among them has.
    /// </summary>
    public static EvalResult Evaluate(ILanguageModel model, TextSamples samples, int? limit = null, int batchSize = 64, DataSplit split = DataSplit.Test)
    {
        SequenceFit.Check(model, samples);
        var test = samples.Of(split).Take(limit ?? int.MaxValue).ToList();
        string splitName = split.ToString().ToLowerInvariant();
        PrefixLabException.Check(test.Count > 0, $"text task '{samples.Task.Name}' has no {splitName} examples (give some 'split': '{splitName}', or more examples)");
        int correct = 0;
        foreach (var group in test.GroupBy(s => s.Prompt.Length))
        {
            foreach (var batch in group.Chunk(batchSize))
            {
                int newTokens = batch.Max(s => s.Answer.Length);
                using var prompts = samples.Prompts(batch);
                using var generated = Generation.Greedy(model, prompts, newTokens);
                var tokens = generated.data<long>().ToArray();
                for (int b = 0; b < batch.Length; b++)
                {
                    var answer = batch[b].Answer;
                    correct += answer.Select((id, t) => tokens[(b * newTokens) + t] == id).All(x => x) ? 1 : 0;
                }
            }
        }
        return new EvalResult(samples.Task.Name, test.Count, correct, (double)correct / test.Count);
    }
}
