using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace PrefixLab.Tests.Interop;

/// <summary>One change made to a file: its class, what it did, and how many data bytes it changed.</summary>
/// <param name="Class">The fuzz class (truncate, header-flip, data-flip, ...).</param>
/// <param name="Description">What was changed, to reproduce a failure.</param>
/// <param name="DataBytes">Bytes of tensor data changed: a successful load may differ in at most that many values.</param>
/// <param name="MustRefuse">Whether only a refusal is right (NaN or ±∞ written into a weight).</param>
internal sealed record Mutation(string Class, string Description, int DataBytes = 0, bool MustRefuse = false);

/// <summary>
/// Seeded mutations of safetensors files and JSON files for the loader fuzz test. Each takes the
/// original bytes and a <see cref="Random"/> and returns the mutated bytes and what it did.
/// </summary>
internal static class FileMutations
{
    /// <summary>The classes every safetensors file gets.</summary>
    public static readonly string[] SafetensorsClasses = ["truncate", "header-flip", "data-flip", "header-length", "json-field", "shapes", "offsets", "nonfinite"];

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1", "2", "3", "5", "32", "100000", "2147483647", "-2147483648", "1e6", "1e7",
        "1.5", "-0.5", "\"x\"", "\"\"", "[]", "{}", "9223372036854775807", "1e300", "\"NaN\"", "[-1, 0]", "\"../../x\"", "\"Relu\"", "\"lora\"",
    ];

    private static readonly string[] ShardNames = ["../x", "/etc/passwd", "", ".", "..", "missing.safetensors", "a/b.safetensors", "..\\x", "config.json"];

    /// <summary>Applies safetensors class <paramref name="cls"/> to <paramref name="file"/>; <paramref name="loaded"/> says which tensors a loader reads (others it may skip).</summary>
    public static (byte[] Bytes, Mutation What) Safetensors(string cls, byte[] file, Random rng, Func<string, bool> loaded)
    {
        var (headerLength, header, data) = Split(file);
        long dataStart = 8 + headerLength;
        var names = header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        string name = names[rng.Next(names.Count)];
        var entry = header[name]!.AsObject();
        switch (cls)
        {
            case "truncate":
                int keep = rng.Next(file.Length);
                return (file[..keep], new(cls, $"kept {keep} of {file.Length} bytes"));
            case "header-flip":
                {
                    var bytes = (byte[])file.Clone();
                    int at = (int)(8 + rng.NextInt64(headerLength));
                    bytes[at] = rng.Next(2) == 0 ? (byte)(bytes[at] ^ (1 << rng.Next(8))) : (byte)rng.Next(256);
                    return (bytes, new(cls, $"header byte {at} {file[at]:x2} -> {bytes[at]:x2}"));
                }
            case "data-flip":
                {
                    var bytes = (byte[])file.Clone();
                    int at = (int)(dataStart + rng.NextInt64(file.Length - dataStart));
                    bytes[at] ^= (byte)(1 << rng.Next(8));
                    return (bytes, new(cls, $"data byte {at} {file[at]:x2} -> {bytes[at]:x2}", DataBytes: 1));
                }
            case "header-length":
                {
                    long[] choices = [headerLength + rng.Next(1, 17), headerLength - rng.Next(1, 17), 0, -1, long.MaxValue, long.MinValue, file.Length, file.Length - 8, rng.NextInt64(), headerLength * 2, 100_000_001];
                    long value = choices[rng.Next(choices.Length)];
                    var bytes = (byte[])file.Clone();
                    BitConverter.GetBytes(value).CopyTo(bytes, 0);
                    return (bytes, new(cls, $"header length {headerLength} -> {value}"));
                }
            case "json-field":
                if (rng.Next(4) == 0)
                {
                    var (text, what) = TextMutation(Encoding.UTF8.GetBytes(header.ToJsonString()), rng, header);
                    return (Join(text, data), new(cls, what));
                }
                string changed = MutateTree(header, rng); // before the header is serialised
                return (Join(header, data), new(cls, changed));
            case "shapes":
                {
                    long[] shape = [.. entry["shape"]!.AsArray().Select(d => d!.GetValue<long>())];
                    long product = shape.Aggregate(1L, (a, d) => a * d);
                    string[] choices =
                    [
                        "[-1, 0]", "[0]", "[]", $"[{1L << 62}, 4]", $"[{1L << 31}, {1L << 31}]", $"[{long.MaxValue}]", $"[{product}]", $"[{string.Join(", ", shape.Append(1))}]",
                    $"[{string.Join(", ", shape.Prepend(1))}]", $"[{string.Join(", ", shape.Reverse())}]", $"[{product + 1}]", $"[{product - 1}]", "[3, -2]", "[1.5]", "[\"4\"]",
                    $"[{rng.Next(1, 40)}, {rng.Next(1, 40)}]", $"[{-product}, -1]", "null", $"[{product / 2}, 2]",
                ];
                    string choice = choices[rng.Next(choices.Length)];
                    entry["shape"] = JsonNode.Parse(choice);
                    return (Join(header, data), new(cls, $"'{name}' shape [{string.Join(", ", shape)}] -> {choice}"));
                }
            case "offsets":
                {
                    long s = entry["data_offsets"]![0]!.GetValue<long>(), e = entry["data_offsets"]![1]!.GetValue<long>();
                    int d = rng.Next(1, 9);
                    string[] choices =
                    [
                        $"[{s + d}, {e + d}]", $"[{s - d}, {e - d}]", $"[{s}, {e + d}]", $"[{s}, {e - d}]", $"[{s + d}, {e}]", $"[0, {e - s}]", $"[-8, {e - s - 8}]",
                    $"[{s}, {s}]", $"[{e}, {s}]", $"[{s}, {long.MaxValue}]", $"[{long.MinValue}, {e}]", $"[{s}, {e}, 0]", $"[{s}]", "[]", $"[{s}.0, {e}]",
                ];
                    string choice = choices[rng.Next(choices.Length)];
                    if (rng.Next(5) == 0)
                    {
                        // Every tensor moved by the same amount: the data no longer starts at 0 (a gap, or past the end).
                        foreach (var other in names)
                        {
                            var o = header[other]!["data_offsets"]!.AsArray();
                            header[other]!["data_offsets"] = new JsonArray(o[0]!.GetValue<long>() + d, o[1]!.GetValue<long>() + d);
                        }
                        return (Join(header, data), new(cls, $"every offset + {d}"));
                    }
                    entry["data_offsets"] = JsonNode.Parse(choice);
                    return (Join(header, data), new(cls, $"'{name}' offsets [{s}, {e}] -> {choice}"));
                }
            case "nonfinite":
                {
                    var floats = names.Where(n => loaded(n) && header[n]!["dtype"]!.GetValue<string>() == "F32" && header[n]!["data_offsets"]![1]!.GetValue<long>() > header[n]!["data_offsets"]![0]!.GetValue<long>()).ToList();
                    string target = floats[rng.Next(floats.Count)];
                    long s = header[target]!["data_offsets"]![0]!.GetValue<long>(), e = header[target]!["data_offsets"]![1]!.GetValue<long>();
                    long index = rng.NextInt64((e - s) / 4);
                    float value = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity }[rng.Next(3)];
                    var bytes = (byte[])file.Clone();
                    BitConverter.GetBytes(value).CopyTo(bytes, dataStart + s + (4 * index));
                    return (bytes, new(cls, $"'{target}'[{index}] = {value}", DataBytes: 4, MustRefuse: true));
                }
            default:
                throw new ArgumentException(cls);
        }
    }

    /// <summary>
    /// Changes one value of the JSON description in metadata entry <paramref name="key"/> (a model's or
    /// an adapter's); half the time the seal is recomputed, as an edit by hand that knows of it would.
    /// </summary>
    public static (byte[] Bytes, Mutation What) Metadata(byte[] file, string key, Random rng)
    {
        var (_, header, data) = Split(file);
        var metadata = header["__metadata__"]!.AsObject();
        string what;
        if (rng.Next(6) == 0)
        {
            string field = new[] { "format", "kind", key + "_sha256", key }[rng.Next(4)];
            string? value = new[] { null, "", "model", "adapter", "checkpoint", "x", "{}", new string('0', 64) }[rng.Next(8)];
            metadata[field] = value;
            what = $"metadata '{field}' = {value ?? "null"}";
        }
        else
        {
            var description = JsonNode.Parse(metadata[key]!.GetValue<string>())!.AsObject();
            what = MutateTree(description, rng);
            metadata[key] = description.ToJsonString();
            if (rng.Next(2) == 0)
            {
                metadata[key + "_sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(description.ToJsonString())));
                what += " (resealed)";
            }
        }
        return (Join(header, data), new("metadata", what));
    }

    /// <summary>Changes one field of a JSON file (<c>config.json</c>, <c>adapter_config.json</c>), or its text.</summary>
    public static (byte[] Bytes, Mutation What) JsonFile(byte[] json, Random rng, string[] knownKeys)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        if (rng.Next(5) == 0)
        {
            var (text, what) = TextMutation(json, rng, root);
            return (text, new("config", what));
        }
        if (rng.Next(3) == 0)
        {
            string key = knownKeys[rng.Next(knownKeys.Length)];
            string value = Values[rng.Next(Values.Length)];
            root[key] = JsonNode.Parse(value);
            return (Encoding.UTF8.GetBytes(root.ToJsonString()), new("config", $"'{key}' = {value}"));
        }
        string changed = MutateTree(root, rng); // before the tree is serialised
        return (Encoding.UTF8.GetBytes(root.ToJsonString()), new("config", changed));
    }

    /// <summary>Changes <c>model.safetensors.index.json</c>: a shard name that leaves the folder, a missing or extra entry, a broken map.</summary>
    public static (byte[] Bytes, Mutation What) Index(byte[] json, Random rng)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var map = root["weight_map"]!.AsObject();
        var tensors = map.Select(kv => kv.Key).ToList();
        string tensor = tensors[rng.Next(tensors.Count)];
        string what;
        switch (rng.Next(7))
        {
            case 0:
            case 1:
                string shard = ShardNames[rng.Next(ShardNames.Length)];
                map[tensor] = shard;
                what = $"'{tensor}' -> '{shard}'";
                break;
            case 2:
                map.Remove(tensor);
                what = $"'{tensor}' removed";
                break;
            case 3:
                map["transformer.extra.weight"] = map[tensor]!.GetValue<string>();
                what = "an extra entry";
                break;
            case 4:
                string other = map.Select(kv => kv.Value!.GetValue<string>()).First(f => f != map[tensor]!.GetValue<string>());
                map[tensor] = other;
                what = $"'{tensor}' -> the other shard";
                break;
            case 5:
                string value = new[] { "[]", "\"x\"", "null", "{}", "5", "{\"a\": 1}" }[rng.Next(6)];
                root["weight_map"] = JsonNode.Parse(value);
                what = $"weight_map = {value}";
                break;
            default:
                var (text, description) = TextMutation(json, rng, root);
                return (text, new("index", description));
        }
        return (Encoding.UTF8.GetBytes(root.ToJsonString()), new("index", what));
    }

    /// <summary>The parts of a well-formed safetensors file.</summary>
    public static (long HeaderLength, JsonObject Header, byte[] Data) Split(byte[] file)
    {
        long length = BitConverter.ToInt64(file, 0);
        return (length, JsonNode.Parse(file.AsSpan(8, (int)length))!.AsObject(), file[(int)(8 + length)..]);
    }

    /// <summary>A safetensors file of <paramref name="header"/> and <paramref name="data"/>.</summary>
    public static byte[] Join(JsonObject header, byte[] data) => Join(Encoding.UTF8.GetBytes(header.ToJsonString()), data);

    private static byte[] Join(byte[] header, byte[] data) => [.. BitConverter.GetBytes((long)header.Length), .. header, .. data];

    /// <summary>Replaces, deletes or renames a random node of <paramref name="root"/>, or adds an unknown key beside it.</summary>
    private static string MutateTree(JsonObject root, Random rng)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index, string Path)>();
        void Collect(JsonNode? node, string path)
        {
            if (node is JsonObject o)
            {
                foreach (var (k, v) in o)
                {
                    slots.Add((o, k, -1, $"{path}.{k}"));
                    Collect(v, $"{path}.{k}");
                }
            }
            else if (node is JsonArray a)
            {
                for (int i = 0; i < a.Count; i++)
                {
                    slots.Add((a, null, i, $"{path}[{i}]"));
                    Collect(a[i], $"{path}[{i}]");
                }
            }
        }
        Collect(root, "");
        var (parent, key, index, at) = slots[rng.Next(slots.Count)];
        string value = Values[rng.Next(Values.Length)];
        int op = rng.Next(20);
        if (parent is JsonObject obj && op < 3)
        {
            obj.Remove(key!);
            return $"{at} removed";
        }
        if (parent is JsonObject renamed && op < 5)
        {
            var node = renamed[key!];
            renamed.Remove(key!);
            renamed[key! + "_"] = node;
            return $"{at} renamed";
        }
        if (parent is JsonObject extended && op < 6)
        {
            extended["unknown_key"] = JsonNode.Parse(value);
            return $"{at}: unknown key added";
        }
        if (parent is JsonObject target)
        {
            target[key!] = JsonNode.Parse(value);
        }
        else
        {
            ((JsonArray)parent)[index] = JsonNode.Parse(value);
        }
        return $"{at} = {value}";
    }

    /// <summary>Text-level damage no JSON writer makes: a duplicate key, invalid UTF-8, a lone surrogate, a cut.</summary>
    private static (byte[] Text, string What) TextMutation(byte[] json, Random rng, JsonObject root)
    {
        string text = Encoding.UTF8.GetString(json);
        int quote = text.IndexOf('"', rng.Next(Math.Max(1, text.Length / 2)));
        quote = quote < 0 ? text.IndexOf('"') : quote;
        switch (rng.Next(6))
        {
            case 0:
                var (key, value) = root.ElementAt(rng.Next(root.Count));
                string duplicate = $"{{{System.Text.Json.JsonSerializer.Serialize(key)}:{value?.ToJsonString() ?? "null"},";
                return (Encoding.UTF8.GetBytes(duplicate + text[1..]), $"duplicate key '{key}'");
            case 1:
                byte[][] invalid = [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80]];
                byte[] bad = invalid[rng.Next(invalid.Length)];
                int at = Encoding.UTF8.GetByteCount(text[..(quote + 1)]);
                return ([.. json[..at], .. bad, .. json[at..]], $"invalid UTF-8 {Convert.ToHexString(bad)} at byte {at}");
            case 2:
                string surrogate = new[] { "\\ud800", "\\udfff", "\\ud800x" }[rng.Next(3)];
                return (Encoding.UTF8.GetBytes(text[..(quote + 1)] + surrogate + text[(quote + 1)..]), $"lone surrogate {surrogate} at {quote}");
            case 3:
                int cut = rng.Next(text.Length);
                return (Encoding.UTF8.GetBytes(text[..cut]), $"cut at character {cut}");
            case 4:
                string top = new[] { "[]", "null", "\"x\"", "", "{}", "{\"a\":1}" }[rng.Next(6)];
                return (Encoding.UTF8.GetBytes(top), $"whole text = {top}");
            default:
                return (Encoding.UTF8.GetBytes(text[..(quote + 1)] + "\u0001" + text[(quote + 1)..]), $"control character at {quote}");
        }
    }
}
