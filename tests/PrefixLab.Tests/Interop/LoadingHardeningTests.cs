using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// One test per finding of the file-loading hardening issue, each reproduced as it was found: through
/// the command line (exit 2, one line on stderr) where a user meets it, in-process for the library rules.
/// </summary>
public sealed class LoadingHardeningTests : IDisposable
{
    private readonly LoaderFixtures fx = new();
    private readonly string dir = TestModels.TempDirectory();

    public void Dispose() => fx.Dispose();

    // ---- 2. No allocation is sized by an unchecked number.

    [Theory]
    [InlineData("config.layers", "100000", "layers must be between 1 and 4096")]
    [InlineData("config.layers", "3000", "does not match its model: missing [transformer.h.1.")]
    [InlineData("config.mlp_depth", "1e7", "unreadable model config")]
    [InlineData("config.mlp_depth", "10000000", "MLP depth must be between 1 and 4096")]
    [InlineData("config.mlp_depth", "5000", "MLP depth must be between 1 and 4096")]
    [InlineData("config.width", "1e6", "unreadable model config")]
    [InlineData("config.width", "1000000", "width must be between 1 and 65536")]
    [InlineData("config.vocab_size", "16777216", "the model needs [16777216, 16]")]
    [InlineData("prefix_size", "2147483647", "prefix size must be between 0 and the block size 29")]
    public void Architecture_numbers_are_checked_against_the_tensors_before_a_model_is_built(string field, string value, string expected)
    {
        string path = EditDescription(fx.ModelPath, "model", field, value, reseal: true);
        ExpectRefusal(expected, "eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2");
    }

    [Fact]
    public void A_gpt2_config_with_two_billion_layers_is_refused_naming_config_json()
    {
        string folder = CopyFolder(fx.Gpt2Dir);
        EditJson(Path.Combine(folder, "config.json"), json => json["n_layer"] = int.MaxValue);
        ExpectRefusal("config.json': layers must be between 1 and 4096 (got 2147483647)", "generate", "--model", folder, "--tokens", "1 2", "--max-new", "1");

        EditJson(Path.Combine(folder, "config.json"), json => json["n_layer"] = 4000); // in range, but the file holds 2 layers
        ExpectRefusal("lacks", "generate", "--model", folder, "--tokens", "1 2", "--max-new", "1");
    }

    [Theory]
    [InlineData("[-1, 0]", "sizes must be at least 0")]
    [InlineData("[4611686018427387904, 4]", "more bytes than any file holds")]
    [InlineData("[2147483648, 2147483648]", "more bytes than any file holds")]
    [InlineData("[0, 16]", "is 0 bytes but its offsets span 64")]
    public void Impossible_shapes_are_refused_by_the_header_check(string shape, string expected)
    {
        string path = EditHeader(fx.ModelPath, header => header["transformer.h.0.ln_1.weight"]!["shape"] = JsonNode.Parse(shape));
        ExpectRefusal(expected, "eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2");
    }

    // ---- 3. Malformed is refused, not loaded.

    [Theory]
    [InlineData(705, 2561, "starts at byte 705 of the data, where 704 was next (a gap)")] // wpe [704, 2560] moved by 1 byte
    [InlineData(0, 1856, "starts at byte 0 of the data, where 704 was next (it overlaps another tensor)")] // sharing wte's bytes
    [InlineData(712, 2568, "starts at byte 712")]
    public void Offsets_must_tile_the_data_from_0_to_its_end(long start, long end, string expected)
    {
        string path = EditHeader(fx.ModelPath, header => header["transformer.wpe.weight"]!["data_offsets"] = new JsonArray(start, end));
        var e = Assert.Throws<PrefixLabException>(() => ModelFile.Load(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Data_that_does_not_start_at_0_or_end_at_the_end_is_refused()
    {
        string shifted = EditHeader(fx.ModelPath, header =>
        {
            foreach (var (name, entry) in header.Where(kv => kv.Key != "__metadata__").ToList())
            {
                var o = entry!["data_offsets"]!.AsArray();
                entry["data_offsets"] = new JsonArray(o[0]!.GetValue<long>() + 1, o[1]!.GetValue<long>() + 1);
            }
        });
        ExpectRefusal("starts at byte 1 of the data, where 0 was next", "eval", "--model", shifted, "--task", LoaderFixtures.Task, "--samples", "2");
        string longer = Path.Combine(dir, "longer.safetensors");
        File.WriteAllBytes(longer, [.. File.ReadAllBytes(fx.ModelPath), 0, 0, 0, 0]);
        Assert.Contains("its tensors describe", Assert.Throws<PrefixLabException>(() => ModelFile.Load(longer)).Message);
    }

    [Fact]
    public void Nan_weights_are_refused_unless_allowed_and_then_warned_about_once()
    {
        var (_, header, data) = FileMutations.Split(File.ReadAllBytes(fx.ModelPath));
        long start = header["transformer.h.0.attn.c_proj.weight"]!["data_offsets"]![0]!.GetValue<long>();
        BitConverter.GetBytes(float.NaN).CopyTo(data, start);
        BitConverter.GetBytes(float.PositiveInfinity).CopyTo(data, start + 40);
        string path = Path.Combine(dir, "nan.safetensors");
        File.WriteAllBytes(path, FileMutations.Join(header, data));
        var before = File.ReadAllBytes(path);
        string[] eval = ["eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2"];
        ExpectRefusal("tensor 'transformer.h.0.attn.c_proj.weight' holds NaN or infinite values (--allow-nonfinite loads it anyway)", eval);

        var (code, stderr, _) = LoaderFuzzTests.RunCapped([.. eval, "--allow-nonfinite"]);
        Assert.True(code == 0, stderr);
        var warning = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("warning", warning);
        Assert.Contains("loaded anyway", warning);
        Assert.Equal(before, File.ReadAllBytes(path)); // the file is read, never rewritten
    }

    [Theory]
    [InlineData("config.heads", "32", "model description was changed after saving")] // heads 32 on width 32 fits the tensors: only the seal can tell
    [InlineData("config.activation", "5", "activation must be Gelu or Relu (got 5)")]
    [InlineData("config.attn_scale", "0", "attention scale must be a positive finite number")]
    [InlineData("config.attn_scale", "-2", "attention scale must be a positive finite number")]
    [InlineData("steps", "-1", "steps must be at least 0")]
    [InlineData("config.heads", "3", "heads must divide the width 32")]
    public void Metadata_that_cannot_describe_the_stored_model_is_refused(string field, string value, string expected)
    {
        string original = Path.Combine(dir, "width32.safetensors");
        using (var model = TestModels.Create()) // width 32, 2 heads
        {
            ModelFile.Save(original, model, new ModelInfo(model.Config, 1, LoaderFixtures.Task));
        }
        // Edited as a user or a corruption would: the seal left as it was (ranges are checked before it).
        string path = EditDescription(original, "model", field, value, reseal: false);
        ExpectRefusal(expected, "eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2");
    }

    [Fact]
    public void Files_without_a_seal_still_load_and_resealed_edits_are_range_checked()
    {
        string path = EditHeader(fx.ModelPath, header => header["__metadata__"]!.AsObject().Remove("model_sha256"));
        var (model, _) = ModelFile.Load(path);
        model.Dispose();
        string resealed = EditDescription(fx.ModelPath, "model", "config.activation", "5", reseal: true);
        Assert.Contains("activation must be", Assert.Throws<PrefixLabException>(() => ModelFile.Load(resealed)).Message);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../../x")]
    [InlineData("transformer.h.0.attn.c_proj.lora_A.weight")]
    public void Extra_tensors_in_an_adapter_file_are_refused(string extra)
    {
        string path = Path.Combine(dir, "extra.safetensors");
        using (var lora = AdapterFile.Load(fx.AdapterPath, fx.Base, fx.BaseFingerprint).Method)
        {
            var tensors = lora.SaveTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
            tensors[extra] = zeros(2, 16);
            var info = AdapterFile.ReadInfo(fx.AdapterPath);
            SafeTensors.Save(path, tensors, ModelFile.Sealed("adapter", System.Text.Json.JsonSerializer.Serialize(info, ModelFile.Json)));
        }
        ExpectRefusal($"tensor(s) a lora adapter does not have, e.g. '{extra}'", "eval", "--model", fx.ModelPath, "--adapter", path, "--task", LoaderFixtures.Task, "--samples", "2");
    }

    [Theory]
    [InlineData(new byte[] { 0xff }, "not valid UTF-8")]
    [InlineData(new byte[] { 0xed, 0xa0, 0x80 }, "not valid UTF-8")]
    [InlineData(new byte[] { (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0' }, "lone UTF-16 surrogate")]
    public void Invalid_text_in_a_header_is_bad_input(byte[] inserted, string expected)
    {
        var (_, header, data) = FileMutations.Split(File.ReadAllBytes(fx.ModelPath));
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        int at = Array.IndexOf(text, (byte)'"') + 1; // inside the first tensor's name
        byte[] bad = [.. text[..at], .. inserted, .. text[at..]];
        string path = Path.Combine(dir, "text.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((long)bad.Length), .. bad, .. data]);
        ExpectRefusal(expected, "eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2");
    }

    [Fact]
    public void Duplicate_keys_in_a_header_or_config_json_are_bad_input()
    {
        var (_, header, data) = FileMutations.Split(File.ReadAllBytes(fx.ModelPath));
        string text = header.ToJsonString();
        string first = text[1..(text.IndexOf("},", StringComparison.Ordinal) + 2)];
        string path = Path.Combine(dir, "dup.safetensors");
        var bytes = Encoding.UTF8.GetBytes("{" + first + text[1..]);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((long)bytes.Length), .. bytes, .. data]);
        ExpectRefusal("its header is not strict JSON: Duplicate property 'transformer.wte", "eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2");

        string folder = CopyFolder(fx.Gpt2Dir);
        string config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, "{\"n_layer\": 1, " + File.ReadAllText(config)[1..]);
        ExpectRefusal("config.json' is not valid JSON: Duplicate property 'n_layer'", "generate", "--model", folder, "--tokens", "1", "--max-new", "1");
    }

    [Theory]
    [InlineData("method", null, "missing required properties")]
    [InlineData("settings", "null", "'Settings'")]
    [InlineData("method", "\"dropout\"", "unknown method 'dropout'")]
    [InlineData("settings.rank", "100000", "LoRA rank must be between 1 and 64")]
    [InlineData("settings.targets", "[]", "LoRA targets must be a non-empty list")]
    [InlineData("settings.dropout", "0.1", "'dropout'")]
    [InlineData("unknown", "1", "unknown")]
    public void An_adapter_description_missing_or_nulling_a_field_is_refused(string field, string? value, string expected)
    {
        string path = EditDescription(fx.AdapterPath, "adapter", field, value, reseal: true);
        var e = Assert.Throws<PrefixLabException>(() => fx.LoadAdapter(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    // ---- 4. Stay inside the folder you were given.

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/model-00001-of-00002.safetensors")]
    public void Index_files_may_only_name_shards_inside_the_model_folder(string shard)
    {
        string folder = CopyFolder(fx.Gpt2ShardedDir);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(folder)!, "x"), "not a safetensors file at all");
        EditJson(Path.Combine(folder, "model.safetensors.index.json"), json => json["weight_map"]!["transformer.wte.weight"] = shard);
        string line = ExpectRefusal($"shard '{shard}' of tensor 'transformer.wte.weight' is not a plain file name in the model directory", "generate", "--model", folder, "--tokens", "1", "--max-new", "1");
        Assert.Contains("model.safetensors.index.json", line);
    }

    // ---- 5. The adapter's base fingerprint is a full SHA-256.

    [Fact]
    public void New_adapters_store_a_64_digit_fingerprint_and_16_digit_legacy_ones_still_load()
    {
        var info = AdapterFile.ReadInfo(fx.AdapterPath);
        Assert.Equal(64, info.BaseFingerprint.Length);
        Assert.Matches("^[0-9a-f]{64}$", AdapterFile.Fingerprint(fx.Base));

        string legacy = EditDescription(fx.AdapterPath, "adapter", "base_fingerprint", $"\"{info.BaseFingerprint[..16]}\"", reseal: true);
        Assert.Equal(0, LoaderFixtures.Differences(fx.AdapterWeights, fx.LoadAdapter(legacy)));

        string other = info.BaseFingerprint[..15] + (info.BaseFingerprint[15] == '0' ? '1' : '0');
        string wrong = EditDescription(fx.AdapterPath, "adapter", "base_fingerprint", $"\"{other}\"", reseal: true);
        Assert.Contains("trained on another base model", Assert.Throws<PrefixLabException>(() => fx.LoadAdapter(wrong)).Message);
        string full = EditDescription(fx.AdapterPath, "adapter", "base_fingerprint", $"\"{info.BaseFingerprint[..63]}{(info.BaseFingerprint[63] == '0' ? '1' : '0')}\"", reseal: true);
        Assert.Contains("trained on another base model", Assert.Throws<PrefixLabException>(() => fx.LoadAdapter(full)).Message);
        string odd = EditDescription(fx.AdapterPath, "adapter", "base_fingerprint", "\"abc\"", reseal: true);
        Assert.Contains("is not 64 lowercase hex digits", Assert.Throws<PrefixLabException>(() => fx.LoadAdapter(odd)).Message);
    }

    // ---- PEFT folders follow the same rules.

    [Theory]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2, \"use_rslora\": \"yes\"}", "'use_rslora' has the wrong type")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 100000, \"lora_alpha\": 2}", "LoRA rank must be between 1 and 64")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 2}", "has shape [2, 16], expected [3, 16]")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 2, \"r\": 2}", "Duplicate property 'r'")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2, \"bias\": 5}", "'bias' has the wrong type")]
    public void Bad_peft_configs_are_refused_with_one_line(string config, string expected)
    {
        string folder = CopyFolder(fx.PeftDir);
        File.WriteAllText(Path.Combine(folder, PeftFormat.ConfigFile), config);
        var e = Assert.Throws<PrefixLabException>(() => fx.LoadPeft(folder));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Unknown_tensors_in_a_peft_folder_are_refused()
    {
        string folder = CopyFolder(fx.PeftDir);
        string weights = Path.Combine(folder, PeftFormat.WeightsFile);
        var (tensors, metadata) = SafeTensors.Load(weights);
        tensors["base_model.model.../../etc/passwd"] = zeros(1);
        SafeTensors.Save(weights, tensors, metadata);
        ExpectRefusal("which PrefixLab's LoRA does not support", "generate", "--model", fx.Gpt2Dir, "--adapter", folder, "--tokens", "1", "--max-new", "1");
    }

    // ---- The architecture check rests on ParameterShapes: it must be what Gpt builds.

    [Theory]
    [InlineData(11, 29, 2, 2, 32, true, true, 1, null, false)]
    [InlineData(5, 4, 1, 1, 8, false, true, 3, 3, false)]
    [InlineData(40, 16, 3, 4, 16, true, false, 2, 7, true)]
    public void Parameter_shapes_are_exactly_the_state_dict_of_the_model(int vocab, int block, int layers, int heads, int width, bool attnNorm, bool norms, int depth, int? hidden, bool tied)
    {
        var config = new GptConfig(vocab, block, layers, heads, width, AttnLayerNorm: attnNorm, LayerNorms: norms, MlpDepth: depth, MlpHidden: hidden, TiedHead: tied);
        using var model = new Gpt(config, seed: 0);
        var state = model.state_dict();
        var shapes = config.ParameterShapes();
        Assert.Equal(state.Keys.Order(), shapes.Keys.Order());
        Assert.All(state, kv => Assert.Equal(kv.Value.shape, shapes[kv.Key]));
    }

    /// <summary>Runs the CLI (memory-capped) and expects exit 2 with one stderr line holding <paramref name="expected"/>; the line.</summary>
    private static string ExpectRefusal(string expected, params string[] args)
    {
        var (code, stderr, timedOut) = LoaderFuzzTests.RunCapped(args);
        Assert.False(timedOut);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
        return line;
    }

    /// <summary>A copy of <paramref name="path"/> with <paramref name="edit"/> applied to its header.</summary>
    private string EditHeader(string path, Action<JsonObject> edit)
    {
        var (_, header, data) = FileMutations.Split(File.ReadAllBytes(path));
        edit(header);
        string copy = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".safetensors");
        File.WriteAllBytes(copy, FileMutations.Join(header, data));
        return copy;
    }

    /// <summary>
    /// A copy of <paramref name="path"/> whose metadata description <paramref name="kind"/> has
    /// <paramref name="field"/> (dotted) set to the JSON <paramref name="value"/> (null removes it),
    /// resealed or not.
    /// </summary>
    private string EditDescription(string path, string kind, string field, string? value, bool reseal) => EditHeader(path, header =>
    {
        var metadata = header["__metadata__"]!.AsObject();
        var description = JsonNode.Parse(metadata[kind]!.GetValue<string>())!.AsObject();
        var parts = field.Split('.');
        var node = parts[..^1].Aggregate(description, (o, p) => o[p]!.AsObject());
        if (value is null)
        {
            node.Remove(parts[^1]);
        }
        else
        {
            node[parts[^1]] = JsonNode.Parse(value);
        }
        string json = description.ToJsonString();
        metadata[kind] = json;
        if (reseal)
        {
            metadata[kind + "_sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        }
    });

    private string CopyFolder(string source)
    {
        string target = Path.Combine(dir, Guid.NewGuid().ToString("N"), Path.GetFileName(source));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return target;
    }

    private static void EditJson(string path, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }
}
