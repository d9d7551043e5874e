using Microsoft.ML.Tokenizers;

namespace PrefixLab.Interop;

/// <summary>
/// GPT-2's byte-level BPE from a checkpoint's <c>vocab.json</c> and <c>merges.txt</c>, through
/// Microsoft.ML.Tokenizers (its CodeGen tokenizer is GPT-2's byte-level BPE with GPT-2's
/// pre-tokenisation, which is what the CodeGen models inherited). No prefix space and no
/// begin/end-of-text tokens are added, as Hugging Face's GPT-2 tokenizer does by default.
/// </summary>
public sealed class Gpt2Tokenizer
{
    private const string EndOfText = "<|endoftext|>";
    private readonly CodeGenTokenizer tokenizer;

    private Gpt2Tokenizer(CodeGenTokenizer tokenizer, int vocabularySize, int? endOfText)
    {
        this.tokenizer = tokenizer;
        VocabularySize = vocabularySize;
        EndOfTextId = endOfText;
    }

    /// <summary>Number of token ids <c>vocab.json</c> defines.</summary>
    public int VocabularySize { get; }

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, if the vocabulary has it.</summary>
    public int? EndOfTextId { get; }

    /// <summary>Whether <paramref name="directory"/> holds <c>vocab.json</c> and <c>merges.txt</c>.</summary>
    public static bool Exists(string directory) =>
        File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt"));

    /// <summary>Reads the tokenizer files of a checkpoint directory.</summary>
    public static Gpt2Tokenizer Load(string directory)
    {
        string vocab = Path.Combine(directory, "vocab.json");
        string merges = Path.Combine(directory, "merges.txt");
        PrefixLabException.Check(Exists(directory), $"'{directory}' has no GPT-2 tokenizer (vocab.json and merges.txt)");
        try
        {
            using var vocabStream = File.OpenRead(vocab);
            using var mergesStream = File.OpenRead(merges);
            var tokenizer = CodeGenTokenizer.Create(vocabStream, mergesStream, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
            int? endOfText = tokenizer.Vocabulary.TryGetValue(EndOfText, out int id) ? id : null;
            return new Gpt2Tokenizer(tokenizer, tokenizer.Vocabulary.Count, endOfText);
        }
        catch (Exception e) when (e is not PrefixLabException and not IOException)
        {
            throw new PrefixLabException($"cannot read the tokenizer in '{directory}': {e.Message.Split('\n')[0]}", e);
        }
    }

    /// <summary>The token ids of <paramref name="text"/>.</summary>
    public int[] Encode(string text) => [.. tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true)];

    /// <summary>The text of <paramref name="ids"/> (bytes that are not valid UTF-8 become U+FFFD).</summary>
    public string Decode(IEnumerable<int> ids) => tokenizer.Decode(ids);
}
