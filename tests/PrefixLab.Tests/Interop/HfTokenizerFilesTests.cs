using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Tests.Cli;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// What <see cref="Tokenizers.Load"/> refuses, and the rules of SentencePiece-style BPE that the real files
/// of <see cref="HfTokenizerReferenceTests"/> never reach (a character without byte tokens), on a small
/// hand-made <c>tokenizer.json</c>.
/// </summary>
public class HfTokenizerFilesTests
{
    /// <summary>A Llama 2-style tokenizer.json: ▁ by Prepend/Replace, byte fallback for 'A' only.</summary>
    private static JsonObject Small() => JsonNode.Parse("""
        {
          "version": "1.0",
          "added_tokens": [
            {"id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
            {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
            {"id": 2, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false}
          ],
          "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
          "pre_tokenizer": null,
          "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
          "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
            "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "▁": 4, "a": 5, "b": 6, "▁a": 7, "ab": 8, "▁ab": 9},
            "merges": ["▁ a", "a b", "▁a b"]}
        }
        """)!.AsObject();

    private static string Folder(JsonObject json)
    {
        string dir = TestModels.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return dir;
    }

    [Fact]
    public void Byte_fallback_unknown_tokens_and_the_template()
    {
        var tokenizer = Tokenizers.Load(Folder(Small()));
        Assert.IsType<HfTokenizer>(tokenizer);
        Assert.Equal([1, 9, 7], tokenizer.Encode("ab a", addSpecialTokens: true)); // "▁ab▁a": both "▁ a" first (rank 0), then "▁a b"
        Assert.Equal([9, 3, 5], tokenizer.Encode("abAa", addSpecialTokens: false)); // 'A' has its byte token
        Assert.Equal([9, 0, 5], tokenizer.Encode("abéèa", addSpecialTokens: false)); // é and è have none: one fused <unk>
        Assert.Equal([1, 9, 2, 7], tokenizer.Encode("ab</s>a", addSpecialTokens: true)); // legacy: ▁ in front of every section
        Assert.Equal("abAa", tokenizer.Decode([9, 3, 5]));
        Assert.Equal("<s> ab<unk>a", tokenizer.Decode([1, 9, 0, 5]));
        Assert.Equal(" ab", tokenizer.TokenText(9));
        Assert.Equal(10, tokenizer.VocabularySize);
    }

    [Theory]
    [InlineData("model", """{"type": "WordPiece", "vocab": {}}""", "model type 'WordPiece' is not supported")]
    [InlineData("pre_tokenizer", """{"type": "Whitespace"}""", "pre-tokenizer type 'Whitespace' is not supported")]
    [InlineData("pre_tokenizer", """{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}""", "Split regex not supported: \\w+")]
    [InlineData("normalizer", """{"type": "BertNormalizer"}""", "normalizer type 'BertNormalizer' is not supported")]
    [InlineData("decoder", """{"type": "WordPiece"}""", "decoder type 'WordPiece' is not supported")]
    [InlineData("post_processor", """{"type": "RobertaProcessing"}""", "post-processor type 'RobertaProcessing' is not supported")]
    public void An_unknown_component_type_is_refused_with_one_line_naming_it(string field, string value, string expected)
    {
        var json = Small();
        json[field] = JsonNode.Parse(value);
        string dir = Folder(json);
        var e = Assert.Throws<PrefixLabException>(() => Tokenizers.Load(dir));
        Assert.Contains(expected, e.Message);

        var (code, _, stderr) = CliTests.Run("tokenize", "--tokenizer", dir, "--text", "a");
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void A_missing_or_corrupt_tokenizer_json_is_one_line_and_exit_code_2()
    {
        string empty = TestModels.TempDirectory();
        var (code, _, stderr) = CliTests.Run("tokenize", "--tokenizer", empty, "--text", "a");
        Assert.Equal(2, code);
        Assert.Contains("has no tokenizer (tokenizer.json, or vocab.json and merges.txt)", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        string corrupt = TestModels.TempDirectory();
        File.WriteAllText(Path.Combine(corrupt, "tokenizer.json"), Small().ToJsonString()[..300]);
        (code, _, stderr) = CliTests.Run("tokenize", "--tokenizer", corrupt, "--text", "a");
        Assert.Equal(2, code);
        Assert.Contains("tokenizer.json' is not valid JSON", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        var wrongType = Small();
        wrongType["model"]!["byte_fallback"] = "yes";
        var e = Assert.Throws<PrefixLabException>(() => Tokenizers.Load(Folder(wrongType)));
        Assert.Contains("has a field of the wrong type", e.Message);
    }

    [Fact]
    public void Tokenize_prints_llama_ids_with_and_without_bos()
    {
        string dir = Folder(Small());
        var (code, stdout, stderr) = CliTests.Run("tokenize", "--tokenizer", dir, "--text", "ab a");
        Assert.True(code == 0, stderr);
        Assert.Equal("1 9 7", stdout.Trim());
        (_, stdout, _) = CliTests.Run("tokenize", "--tokenizer", dir, "--text", "ab a", "--no-special");
        Assert.Equal("9 7", stdout.Trim());
        (_, stdout, _) = CliTests.Run("tokenize", "--tokenizer", dir, "--ids", "1 9 7");
        Assert.Equal("<s> ab a\n", stdout);
        (_, stdout, _) = CliTests.Run("tokenize", "--tokenizer", dir, "--ids", "1 9 7", "--no-special");
        Assert.Equal("ab a\n", stdout);
    }
}
