using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>A greedy continuation of a text prompt.</summary>
/// <param name="PromptIds">The prompt's token ids (without padding).</param>
/// <param name="NewIds">The generated ids, up to and excluding an end-of-text token.</param>
/// <param name="Text">The generated text.</param>
public sealed record TextContinuation(int[] PromptIds, int[] NewIds, string Text);

/// <summary>Greedy text generation with a tokenizer, through <see cref="Generation.Greedy"/> and its key/value cache.</summary>
public static class TextGeneration
{
    /// <summary>
    /// Continues <paramref name="prompt"/> by up to <paramref name="maxNew"/> greedily chosen tokens,
    /// stopping at <c>&lt;|endoftext|&gt;</c>. <paramref name="paddingRows"/> padding tokens go in front
    /// of the prompt for methods whose vectors take their place (soft prompts, the paper's prefix).
    /// </summary>
    public static TextContinuation Greedy(ILanguageModel model, Gpt2Tokenizer tokenizer, string prompt, int maxNew, int paddingRows = 0)
    {
        tokenizer.CheckFits(model.Shape.VocabSize);
        var ids = tokenizer.Encode(prompt);
        PrefixLabException.Check(ids.Length > 0 || paddingRows > 0, "the prompt is empty");
        PrefixLabException.Check(maxNew >= 0, $"new tokens must be 0 or more (got {maxNew})");
        int total = paddingRows + ids.Length + maxNew;
        PrefixLabException.Check(total <= model.SequenceCapacity,
            $"{(model.PositionShift > 0 ? $"{model.PositionShift} prefix positions + " : "")}{paddingRows} padding + {ids.Length} prompt + {maxNew} new tokens (--max-new) exceed the model's {model.Shape.Positions} positions");
        long[] input = [.. Enumerable.Repeat((long)Tasks.SequenceLayout.PadToken, paddingRows), .. ids.Select(i => (long)i)];
        var next = new List<int>();
        if (maxNew > 0)
        {
            using var tokens = tensor(input, [1, input.Length]);
            using var generated = Generation.Greedy(model, tokens, maxNew);
            next = [.. generated.data<long>().ToArray().Select(i => (int)i)];
        }
        if (tokenizer.EndOfTextId is int end && next.IndexOf(end) is var stop and >= 0)
        {
            next = next[..stop];
        }
        return new TextContinuation(ids, [.. next], tokenizer.Decode(next));
    }
}
