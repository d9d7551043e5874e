using System.Collections.Concurrent;
using System.Text;

namespace PrefixLab.Interop;

/// <summary>
/// GPT-2's byte-level BPE, read from a checkpoint's <c>vocab.json</c> and <c>merges.txt</c> or, when
/// those are absent, its <c>tokenizer.json</c>. Text is cut into pieces by GPT-2's pre-tokenisation
/// (<see cref="Gpt2PreTokenizer"/>), each piece's UTF-8 bytes become byte tokens, and the merges are
/// applied by rank as GPT-2's own encoder applies them. No begin/end-of-text tokens are added. As in
/// Hugging Face's tokenizers, a special token spelled out in the text (<c>&lt;|endoftext|&gt;</c>, or
/// any of <c>tokenizer.json</c>'s added tokens) is that one token, not its characters.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    /// <summary>Pieces seen before; text repeats its words, and their BPE is the costly part.</summary>
    private const int CacheLimit = 100_000;

    private readonly int[] byteTokens = new int[256];
    private readonly Dictionary<long, (int Rank, int Merged)> merges;
    private readonly Dictionary<int, byte[]> tokenBytes;
    private readonly bool addPrefixSpace;
    private readonly (string Text, int Id)[] specialTokens;
    private readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);

    private Gpt2Tokenizer(BpeDefinition definition)
    {
        var vocab = definition.Vocabulary;
        string source = definition.Source;
        addPrefixSpace = definition.AddPrefixSpace;
        // Longest first, so that of two special tokens starting at one place the longer wins.
        specialTokens = [.. definition.SpecialTokens.Select(t => (t, vocab[t])).OrderByDescending(t => t.Item1.Length)];
        tokenBytes = new Dictionary<int, byte[]>(vocab.Count);
        foreach (var (token, id) in vocab)
        {
            PrefixLabException.Check(id >= 0, $"{source}: token '{token}' has a negative id {id}");
            PrefixLabException.Check(tokenBytes.TryAdd(id, Bytes(token)), $"{source}: id {id} is given to two tokens");
        }
        for (int b = 0; b < 256; b++)
        {
            string token = Gpt2PreTokenizer.ByteToChar[b].ToString();
            PrefixLabException.Check(vocab.TryGetValue(token, out byteTokens[b]), $"{source}: the vocabulary lacks the byte token '{token}' (byte {b}), so it is not a byte-level BPE");
        }
        merges = new Dictionary<long, (int, int)>(definition.Merges.Count);
        for (int rank = 0; rank < definition.Merges.Count; rank++)
        {
            var (left, right) = definition.Merges[rank];
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.TryGetValue(left + right, out int merged))
            {
                throw new PrefixLabException($"{source}: merge {rank} '{left} {right}' has a token that is not in the vocabulary");
            }
            merges.TryAdd(Pair(l, r), (rank, merged)); // a repeated merge keeps its first (lowest) rank
        }
        VocabularySize = tokenBytes.Keys.Max() + 1;
        EndOfTextId = vocab.TryGetValue(Gpt2TokenizerFiles.EndOfText, out int end) ? end : null;
        Source = source;
    }

    /// <summary>The number of ids the tokenizer knows of: its largest id plus one.</summary>
    public int VocabularySize { get; }

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, if the vocabulary has it.</summary>
    public int? EndOfTextId { get; }

    /// <summary>Where the tokenizer was read from, for messages.</summary>
    public string Source { get; }

    /// <summary>GPT-2 begins no sequence with a token of its own; <c>&lt;|endoftext|&gt;</c> is its BOS in name only.</summary>
    public int? BosId => EndOfTextId;

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, if the vocabulary has it.</summary>
    public int? EosId => EndOfTextId;

    /// <summary>GPT-2's ids of <paramref name="text"/>: Hugging Face's GPT-2 tokenizer adds no special tokens either way.</summary>
    public int[] Encode(string text, bool addSpecialTokens) => Encode(text);

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens) =>
        Decode(skipSpecialTokens ? ids.Where(id => !specialTokens.Any(t => t.Id == id)) : ids);

    /// <inheritdoc/>
    public string TokenText(int id) => Decode([id]);

    /// <summary>Whether <paramref name="directory"/> holds <c>vocab.json</c> and <c>merges.txt</c>, or <c>tokenizer.json</c>.</summary>
    public static bool Exists(string directory) =>
        Gpt2TokenizerFiles.HasVocabAndMerges(directory) || Gpt2TokenizerFiles.HasTokenizerJson(directory);

    /// <summary>
    /// Reads the tokenizer of a checkpoint directory: <c>vocab.json</c> and <c>merges.txt</c> when both
    /// are there, else <c>tokenizer.json</c>.
    /// </summary>
    public static Gpt2Tokenizer Load(string directory)
    {
        PrefixLabException.Check(Exists(directory), $"'{directory}' has no GPT-2 tokenizer (vocab.json and merges.txt, or tokenizer.json)");
        return new Gpt2Tokenizer(Gpt2TokenizerFiles.HasVocabAndMerges(directory)
            ? Gpt2TokenizerFiles.ReadVocabAndMerges(directory)
            : Gpt2TokenizerFiles.ReadTokenizerJson(directory));
    }

    /// <summary>
    /// Refuses a tokenizer that can make ids the model has no embedding for (a tokenizer of another
    /// model); a model's vocabulary may be larger than its tokenizer's (padded), never smaller.
    /// </summary>
    public void CheckFits(int modelVocabularySize) => Tokenizers.CheckFits(this, modelVocabularySize);

    /// <summary>The token ids of <paramref name="text"/>.</summary>
    public int[] Encode(string text)
    {
        if (addPrefixSpace && !text.StartsWith(' '))
        {
            text = " " + text;
        }
        var ids = new List<int>(text.Length / 3);
        int done = 0;
        while (NextSpecial(text, done) is var (at, special) && at >= 0)
        {
            EncodeOrdinary(text, done, at, ids);
            ids.Add(special.Id);
            done = at + special.Text.Length;
        }
        EncodeOrdinary(text, done, text.Length, ids);
        return [.. ids];
    }

    /// <summary>Where the first special token at or after <paramref name="from"/> is (-1: none).</summary>
    private (int At, (string Text, int Id) Token) NextSpecial(string text, int from)
    {
        (int, (string, int)) first = (-1, default);
        foreach (var token in specialTokens)
        {
            int at = text.IndexOf(token.Text, from, StringComparison.Ordinal);
            if (at >= 0 && (first.Item1 < 0 || at < first.Item1))
            {
                first = (at, token);
            }
        }
        return first;
    }

    /// <summary>Appends the ids of <c>text[from..to]</c>, which holds no special token.</summary>
    private void EncodeOrdinary(string text, int from, int to, List<int> ids)
    {
        string segment = text[from..to];
        foreach (var (start, length) in Gpt2PreTokenizer.Split(segment))
        {
            string piece = segment.Substring(start, length);
            if (!cache.TryGetValue(piece, out var pieceIds))
            {
                pieceIds = Bpe(piece);
                if (cache.Count >= CacheLimit)
                {
                    cache.Clear();
                }
                cache[piece] = pieceIds;
            }
            ids.AddRange(pieceIds);
        }
    }

    /// <summary>
    /// The text of <paramref name="ids"/>: their bytes as UTF-8, bytes that are not valid UTF-8 becoming
    /// U+FFFD. Ids the tokenizer does not have (a padded model vocabulary's) add nothing.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (tokenBytes.TryGetValue(id, out var b))
            {
                bytes.AddRange(b);
            }
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>
    /// GPT-2's BPE on one piece: start from its bytes; while some adjacent pair has a merge, take the
    /// pair of lowest rank and merge every occurrence of it, left to right without overlaps. Pairs wait
    /// in a queue by (rank, position) instead of being searched for on each pass, so a long piece (a
    /// DNA string, base64) costs n log n rather than n² (20,000 letters: 12 s before).
    /// </summary>
    private int[] Bpe(string piece)
    {
        var utf8 = Encoding.UTF8.GetBytes(piece);
        int n = utf8.Length;
        var ids = new int[n]; // -1: merged into the symbol on its left
        var next = new int[n];
        var previous = new int[n];
        var queue = new PriorityQueue<int, long>();
        for (int i = 0; i < n; i++)
        {
            (ids[i], next[i], previous[i]) = (byteTokens[utf8[i]], i + 1, i - 1);
        }
        for (int i = 0; i + 1 < n; i++)
        {
            Enqueue(i);
        }
        var created = new List<int>();
        while (queue.TryPeek(out _, out long head))
        {
            // One pass: every occurrence of the pair of this rank, by position. Pairs the pass creates
            // wait for the next pass, as in GPT-2's loop.
            int rank = (int)(head >> 32);
            while (queue.TryPeek(out int left, out long key) && (int)(key >> 32) == rank)
            {
                queue.Dequeue();
                if (ids[left] < 0 || next[left] >= n || RankAt(left) is not (int r, int merged) || r != rank)
                {
                    continue; // an occurrence that an earlier merge of this pass used up
                }
                int right = next[left];
                (ids[left], ids[right], next[left]) = (merged, -1, next[right]);
                if (next[left] < n)
                {
                    previous[next[left]] = left;
                    created.Add(left);
                }
                if (previous[left] >= 0)
                {
                    created.Add(previous[left]);
                }
            }
            created.ForEach(Enqueue);
            created.Clear();
        }
        var result = new List<int>();
        for (int i = 0; i < n; i = next[i])
        {
            result.Add(ids[i]);
        }
        return [.. result];

        (int Rank, int Merged)? RankAt(int left) =>
            merges.TryGetValue(Pair(ids[left], ids[next[left]]), out var merge) ? merge : null;

        void Enqueue(int left)
        {
            if (RankAt(left) is (int rank, _))
            {
                queue.Enqueue(left, ((long)rank << 32) | (uint)left);
            }
        }
    }

    private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>
    /// The bytes a token string stands for: each character of GPT-2's byte alphabet is its byte; any other
    /// character (in an added token) is its own UTF-8.
    /// </summary>
    private static byte[] Bytes(string token)
    {
        var bytes = new List<byte>(token.Length);
        foreach (var rune in token.EnumerateRunes())
        {
            int b = rune.Value < Gpt2PreTokenizer.CharToByte.Length ? Gpt2PreTokenizer.CharToByte[rune.Value] : -1;
            if (b >= 0)
            {
                bytes.Add((byte)b);
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(rune.ToString()));
            }
        }
        return [.. bytes];
    }
}
