using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tests.Cli;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Checkpoints whose tokenizer is only <c>tokenizer.json</c> (Hugging Face's fast-tokenizer file), made
/// here from GPT-2's real vocab.json and merges.txt; and tokenizers that do not fit the model.
/// </summary>
public class Gpt2TokenizerJsonTests
{
    /// <summary>
    /// A tokenizer.json as Hugging Face writes GPT-2's, from GPT-2's vocab.json and merges.txt; merges as
    /// "a b" strings (older writers) or ["a", "b"] pairs (newer ones).
    /// </summary>
    internal static string TokenizerJsonOnly(bool pairs, Action<JsonObject>? change = null)
    {
        string real = RealGpt2Vocabulary.Directory;
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(real, "vocab.json")))!.AsObject();
        var merges = File.ReadLines(Path.Combine(real, "merges.txt")).Skip(1).Where(l => l.Length > 0)
            .Select(l => pairs ? (JsonNode)new JsonArray(l.Split(' ').Select(p => (JsonNode)p).ToArray()) : l);
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "",
                ["vocab"] = vocab.DeepClone(),
                ["merges"] = new JsonArray([.. merges]),
            },
        };
        change?.Invoke(json);
        string dir = TestModels.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return dir;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tokenizer_json_tokenizes_as_vocab_json_and_merges_txt_do(bool pairs)
    {
        var expected = RealGpt2Vocabulary.Tokenizer;
        string dir = TokenizerJsonOnly(pairs);
        Assert.True(Gpt2Tokenizer.Exists(dir));
        var tokenizer = Gpt2Tokenizer.Load(dir);
        Assert.Equal(50257, tokenizer.VocabularySize);
        Assert.Equal(50256, tokenizer.EndOfTextId);
        foreach (var text in Gpt2Texts.Generate(400, seed: 2))
        {
            var ids = tokenizer.Encode(text);
            Assert.Equal(expected.Encode(text), ids);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [Fact]
    public void A_prefix_space_is_added_when_the_pre_tokenizer_asks_for_it()
    {
        var tokenizer = Gpt2Tokenizer.Load(TokenizerJsonOnly(pairs: false, json => json["pre_tokenizer"]!["add_prefix_space"] = true));
        Assert.Equal([18435, 995], tokenizer.Encode("Hello world")); // " Hello" " world"
        Assert.Equal([18435], tokenizer.Encode(" Hello"));
    }

    [Theory]
    [InlineData("model.type", "the model is Unigram")]
    [InlineData("normalizer", "has a normalizer")]
    [InlineData("pre_tokenizer", "the pre-tokenizer is Metaspace")]
    [InlineData("merge", "merge 0 'Ġ qxqxqxqx' has a token that is not in the vocabulary")]
    [InlineData("merges", "has no model.merges")]
    [InlineData("json", "is not valid JSON")]
    public void Another_kind_of_tokenizer_json_is_refused_with_one_line(string change, string expected)
    {
        string dir = TokenizerJsonOnly(pairs: false, json =>
        {
            var model = json["model"]!.AsObject();
            switch (change)
            {
                case "model.type": model["type"] = "Unigram"; break;
                case "normalizer": json["normalizer"] = new JsonObject { ["type"] = "NFC" }; break;
                case "pre_tokenizer": json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace" }; break;
                case "merge": model["merges"]![0] = "Ġ qxqxqxqx"; break;
                case "merges": model.Remove("merges"); break;
            }
        });
        if (change == "json")
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": ");
        }
        var e = Assert.Throws<PrefixLabException>(() => Gpt2Tokenizer.Load(dir));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_model_vocabulary_is_refused_and_the_cli_exits_2()
    {
        var tokenizer = RealGpt2Vocabulary.Tokenizer;
        tokenizer.CheckFits(50257);
        tokenizer.CheckFits(50304); // a padded vocabulary is fine
        var e = Assert.Throws<PrefixLabException>(() => tokenizer.CheckFits(50256));
        Assert.Contains("50257 token ids, more than the model's vocab_size 50256", e.Message);

        string dir = TestModels.TempDirectory();
        string modelPath = Path.Combine(dir, "small.safetensors");
        using (var model = TestModels.Create())
        {
            ModelFile.Save(modelPath, model, new ModelInfo(model.Config, 0));
        }
        var (code, _, stderr) = CliTests.Run("generate", "--model", modelPath, "--tokenizer", TokenizerJsonOnly(pairs: true), "--prompt", "a  b", "--max-new", "1");
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("tokenizer.json' has 50257 token ids, more than the model's vocab_size 11", line);
    }
}
