using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>A greedy continuation of a text prompt.</summary>
/// <param name="PromptIds">The prompt's token ids (without padding; with the BOS a Llama tokenizer adds).</param>
/// <param name="NewIds">The generated ids, up to and excluding the tokenizer's end-of-sequence token.</param>
/// <param name="Text">The generated ids decoded on their own, as Hugging Face's <c>tokenizer.decode(new_ids)</c>.</param>
public sealed record TextContinuation(int[] PromptIds, int[] NewIds, string Text);

/// <summary>Greedy text generation with a tokenizer, through <see cref="Generation.Greedy"/> and its key/value cache.</summary>
public static class TextGeneration
{
    /// <summary>
    /// Continues <paramref name="prompt"/> by up to <paramref name="maxNew"/> greedily chosen tokens,
    /// stopping at the tokenizer's end-of-sequence token (GPT-2's <c>&lt;|endoftext|&gt;</c>, Llama's
    /// <c>&lt;/s&gt;</c>). The prompt is encoded as Hugging Face's <c>tokenizer(prompt)</c> encodes it, with the
    /// BOS that the tokenizer's config asks for. <paramref name="paddingRows"/> padding tokens go in front
    /// of the prompt for methods whose vectors take their place (soft prompts, the paper's prefix).
    /// </summary>
    public static TextContinuation Greedy(ILanguageModel model, ITokenizer tokenizer, string prompt, int maxNew, int paddingRows = 0)
    {
        tokenizer.CheckFits(model.Shape.VocabSize);
        var ids = tokenizer.EncodeSequence(prompt);
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
        if (tokenizer.EosId is int end && next.IndexOf(end) is var stop and >= 0)
        {
            next = next[..stop];
        }
        return new TextContinuation(ids, [.. next], tokenizer.Decode(next));
    }

    /// <summary>
    /// The text that <paramref name="continuation"/>'s new ids add after its prompt's: the decode of prompt
    /// and new ids together past the decode of the prompt's. A SentencePiece decoder drops the leading space
    /// of the first token it decodes, so the new ids decoded alone (<see cref="TextContinuation.Text"/>) would
    /// join the prompt's last word; for GPT-2's byte-level BPE the two are the same.
    /// </summary>
    public static string TextAfterPrompt(ITokenizer tokenizer, TextContinuation continuation)
    {
        string head = tokenizer.Decode(continuation.PromptIds);
        string whole = tokenizer.Decode([.. continuation.PromptIds, .. continuation.NewIds]);
        return whole.StartsWith(head, StringComparison.Ordinal) ? whole[head.Length..] : continuation.Text;
    }
}
