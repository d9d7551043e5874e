using PrefixLab.Interop;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// PrefixLab's GPT-2 tokenizer on GPT-2's real vocabulary (<see cref="RealGpt2Vocabulary"/>), against
/// an independent tokenizer (Microsoft.ML.Tokenizers' tiktoken over the same ranks).
/// </summary>
public class Gpt2TokenizerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The texts of issue 18 and the ids GPT-2 gives them.</summary>
    [Theory]
    [InlineData("a  b", new[] { 64, 220, 275 })]
    [InlineData("x   y", new[] { 87, 220, 220, 331 })]
    [InlineData("\t\tindent", new[] { 197, 197, 521, 298 })]
    [InlineData("end  ", new[] { 437, 220, 220 })]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData("<|endoftext|>", new[] { 50256 })]
    public void Whitespace_runs_give_gpt2s_ids_and_decode_back(string text, int[] expected)
    {
        var tokenizer = RealGpt2Vocabulary.Tokenizer;
        Assert.Equal(expected, tokenizer.Encode(text));
        Assert.Equal(text, tokenizer.Decode(expected));
    }

    [Fact]
    public void Thousands_of_texts_tokenize_as_the_independent_tokenizer_does_and_decode_back()
    {
        var tokenizer = Gpt2Tokenizer.Load(RealGpt2Vocabulary.Directory);
        Assert.Equal(50257, tokenizer.VocabularySize);
        Assert.Equal(50256, tokenizer.EndOfTextId);
        var reference = RealGpt2Vocabulary.Reference;
        var texts = Gpt2Texts.Generate(3000, seed: 18);
        long tokens = 0;
        foreach (var text in texts)
        {
            var ids = tokenizer.Encode(text);
            var expected = reference.EncodeToIds(text);
            Assert.True(expected.SequenceEqual(ids), $"'{Gpt2Texts.Show(text)}': got [{string.Join(' ', ids)}], the reference gives [{string.Join(' ', expected)}]");
            Assert.Equal(text, tokenizer.Decode(ids));
            tokens += ids.Length;
        }
        output.WriteLine($"{texts.Count} texts, {tokens} tokens: all equal to the reference's and decoded back");
    }

    /// <summary>
    /// Letters and digits outside the Basic Multilingual Plane are letters and digits, as in GPT-2's Python
    /// regex: the expected pieces are what the same pattern gives in JavaScript with the u flag (node 20),
    /// which reads code points too; .NET's Regex would cut "a𝐀b" into three pieces.
    /// </summary>
    [Theory]
    [InlineData("a𝐀b", new[] { "a𝐀b" })]
    [InlineData("x𝟏𝟐3 4𝟏", new[] { "x", "𝟏𝟐3", " 4𝟏" })]
    [InlineData("Gothic 𐌰𐌱𐌲s", new[] { "Gothic", " 𐌰𐌱𐌲s" })]
    [InlineData("𠀀字 字𠀀", new[] { "𠀀字", " 字𠀀" })]
    [InlineData("hi 😀😀!", new[] { "hi", " 😀😀!" })]
    [InlineData("it's  'S\t\n x", new[] { "it", "'s", " ", " '", "S", "\t\n", " x" })]
    public void Pieces_follow_gpt2s_pattern_over_code_points(string text, string[] expected)
    {
        Assert.Equal(expected, Gpt2PreTokenizer.Split(text).Select(p => text.Substring(p.Start, p.Length)));
    }

    /// <summary>Texts with characters of four UTF-8 bytes, with the ids of OpenAI's encoder as the npm package gpt-3-encoder 1.1.4 ports it.</summary>
    [Theory]
    [InlineData(" 𝐀𝐁𝐂 bold", new[] { 220, 47728, 238, 222, 47728, 238, 223, 47728, 238, 224, 10758 })]
    [InlineData("𠀀字 字𠀀", new[] { 172, 254, 222, 222, 27764, 245, 10263, 255, 245, 172, 254, 222, 222 })]
    [InlineData("x𝟏𝟐3 4𝟏", new[] { 87, 47728, 253, 237, 47728, 253, 238, 18, 604, 47728, 253, 237 })]
    [InlineData("x 😀y", new[] { 87, 30325, 222, 88 })]
    public void Four_byte_characters_give_gpt2s_ids(string text, int[] expected)
    {
        var tokenizer = RealGpt2Vocabulary.Tokenizer;
        Assert.Equal(expected, tokenizer.Encode(text));
        Assert.Equal(text, tokenizer.Decode(expected));
    }

    /// <summary>Long pieces (no spaces to cut them), where BPE does thousands of merges in one piece.</summary>
    [Fact]
    public void Long_pieces_tokenize_as_the_independent_tokenizer_does()
    {
        var random = new Random(5);
        string Draw(string alphabet, int length) => new([.. Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)])]);
        string[] texts =
        [
            Draw("acgt", 3000), Draw("abcdefghijklmnopqrstuvwxyz", 3000), Draw("0123456789", 2000),
            Draw("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 3000), new string('a', 2001),
            Draw("éàüößñçø", 1000), Draw("!?.,;:-_=+*/\\|", 2000), string.Concat(Enumerable.Repeat("ab", 1000)),
        ];
        foreach (var text in texts)
        {
            Assert.Equal(RealGpt2Vocabulary.Reference.EncodeToIds(text), RealGpt2Vocabulary.Tokenizer.Encode(text));
        }
    }
}
