using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>What an adapter file says besides its tensors.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Settings">The method's settings, its own record (reparameterisations already folded).</param>
/// <param name="BaseFingerprint">Fingerprint of the base model's weights it was trained on.</param>
/// <param name="PrefixSize">The padding positions of the inputs it was trained with.</param>
/// <param name="Task">The task it was trained on.</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Positions">
/// Where a key/value prefix leaves the content on the position embedding (<see cref="KvPositions"/>):
/// <c>AfterPrefix</c> in prefix-kv files written since PrefixLab follows Hugging Face; absent (null) in
/// older files, whose prefix-kv adapters are read as <c>FromZero</c>, as they were trained, and in
/// other methods' files (<see cref="MethodKind.Positions"/>).
/// </param>
/// <param name="Precision"><c>bf16</c> when it was trained with bfloat16 products; absent for float32 (<see cref="ModelInfo.Precision"/>).</param>
public sealed record AdapterInfo(string Method, TuningSettings Settings, string BaseFingerprint, int PrefixSize, string? Task, long Steps,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] KvPositions? Positions = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Precision = null);

/// <summary>
/// Adapter files: a method's own tensors only, in safetensors, with the method, its settings and the
/// fingerprint of the base weights in the metadata, so that loading onto another base model is refused.
/// </summary>
public static class AdapterFile
{
    /// <summary>
    /// Length of the base fingerprints that files written before full SHA-256 fingerprints hold (the
    /// first 16 hex digits); such a file is matched on those digits.
    /// </summary>
    public const int LegacyFingerprintLength = 16;

    /// <summary>Writes <paramref name="method"/>'s tensors and <paramref name="info"/> to <paramref name="path"/> atomically.</summary>
    /// <remarks>
    /// The position convention recorded is the method's own, and the settings are as the method's
    /// registration saves them (<see cref="MethodKind.Saved"/>: prefix-kv's projection folded).
    /// </remarks>
    public static void Save(string path, ITuningMethod method, AdapterInfo info)
    {
        var kind = TuningMethods.Get(info.Method);
        var saved = info with { Settings = kind.Saved(info.Settings), Positions = kind.Positions(method.Settings) };
        SafeTensors.Save(path, method.SaveTensors(), ModelFile.Sealed(FileKinds.Adapter, JsonSerializer.Serialize(saved, ModelFile.Json)));
    }

    /// <summary>Reads an adapter file's description, refusing one that cannot describe an adapter.</summary>
    public static AdapterInfo ReadInfo(string path)
    {
        var metadata = SafeTensors.ReadMetadata(path);
        if (!FileKinds.Is(metadata, FileKinds.Adapter) || !metadata.TryGetValue(FileKinds.Adapter, out var json))
        {
            string? kind = metadata.GetValueOrDefault(FileKinds.Key);
            throw new PrefixLabException($"'{path}' is not a PrefixLab adapter{(kind is null ? "" : $" (it is a {kind})")}");
        }
        var stored = ModelFile.ParseJson<StoredInfo>(path, json, "adapter description");
        var method = TuningMethods.Find(stored.Method) ?? throw new PrefixLabException($"'{path}': unknown method '{stored.Method}' (known: {string.Join(", ", TuningMethods.Names)})");
        var settings = method.Read(path, OwnFields(method, stored.Settings).ToJsonString(), stored.Positions);
        var info = new AdapterInfo(stored.Method, settings, stored.BaseFingerprint, stored.PrefixSize, stored.Task, stored.Steps, stored.Positions, stored.Precision);
        PrefixLabException.Check(info.BaseFingerprint.Length is 64 or LegacyFingerprintLength && info.BaseFingerprint.All(char.IsAsciiHexDigitLower),
            $"'{path}': base fingerprint '{info.BaseFingerprint}' is not 64 lowercase hex digits (or 16, in older files)");
        PrefixLabException.Check(info.PrefixSize >= 0 && info.Steps >= 0, $"'{path}': prefix size and steps must be at least 0 (got {info.PrefixSize} and {info.Steps})");
        ModelFile.CheckSeal(path, metadata, FileKinds.Adapter);
        return info;
    }

    /// <summary>
    /// Attaches the adapter at <paramref name="path"/> to <paramref name="model"/>, which must be the model
    /// it was trained on (same weights fingerprint). A directory is read as a PEFT adapter
    /// (<see cref="PeftFormat"/>), which carries no fingerprint. <paramref name="fingerprint"/> is the
    /// model's <see cref="Fingerprint"/> when the caller has it already (it hashes every weight).
    /// NaN or ±∞ values are refused unless <paramref name="options"/> allow them.
    /// </summary>
    public static (ITuningMethod Method, AdapterInfo Info) Load(string path, ILanguageModel model, string? fingerprint = null, LoadOptions? options = null)
    {
        if (Directory.Exists(path))
        {
            return PeftFormat.Load(path, model, options);
        }
        var info = ReadInfo(path);
        fingerprint ??= Fingerprint(model);
        if (!SameBase(info.BaseFingerprint, fingerprint))
        {
            throw new PrefixLabException($"adapter '{path}' was trained on another base model (fingerprint {info.BaseFingerprint}, this model {fingerprint})");
        }
        PrefixLabException.Check(info.PrefixSize <= model.Shape.Positions, $"'{path}': prefix size {info.PrefixSize} exceeds the model's block size {model.Shape.Positions}");
        var (tensors, _) = SafeTensors.Load(path, options);
        try
        {
            return (Attach(path, info.Method, info.Settings, model, tensors), info);
        }
        finally
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>
    /// Attaches method <paramref name="name"/> with <paramref name="settings"/> (read from
    /// <paramref name="path"/>) to <paramref name="model"/> and sets its tensors from
    /// <paramref name="tensors"/>, which must be exactly the method's: no tensor missing, none extra
    /// (whatever its name), each of the method's shape and kind of dtype. The settings are checked
    /// against the model first, so that none sizes an allocation beyond the model's scale.
    /// </summary>
    internal static ITuningMethod Attach(string path, string name, TuningSettings settings, ILanguageModel model, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var method = PrefixLabException.InFile(path, () => TuningMethods.Create(name, model, settings.ValidateFor(model.Shape)));
        try
        {
            var expected = method.SaveTensors();
            var extra = tensors.Keys.Where(k => !expected.ContainsKey(k)).ToList();
            PrefixLabException.Check(extra.Count == 0, $"'{path}' holds {extra.Count} tensor(s) a {method.Name} adapter does not have, e.g. '{extra.FirstOrDefault()}'");
            foreach (var (key, target) in expected)
            {
                PrefixLabException.Check(tensors.TryGetValue(key, out var source), $"'{path}': the {method.Name} adapter lacks tensor '{key}'");
                PrefixLabException.Check(source!.shape.SequenceEqual(target.shape), $"'{path}': tensor '{key}' has shape [{string.Join(", ", source.shape)}], expected [{string.Join(", ", target.shape)}]");
                PrefixLabException.Check(source.dtype == target.dtype || (source.is_floating_point() && target.is_floating_point()), $"'{path}': tensor '{key}' is {source.dtype}, expected {target.dtype}");
            }
            PrefixLabException.InFile(path, () => method.LoadTensors(tensors));
            return method;
        }
        catch
        {
            method.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="settings"/> without the fields of <see cref="LegacyUnionFields"/> that are not the
    /// method's own: files from when one record held every method's settings store them all, and each
    /// method reads only its own. Any other key stays, and the method's reader refuses it.
    /// </summary>
    private static JsonObject OwnFields(MethodKind kind, JsonObject settings)
    {
        var own = ModelFile.StrictJson.GetTypeInfo(kind.SettingsType).Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var copy = (JsonObject)settings.DeepClone();
        foreach (string field in LegacyUnionFields.Where(f => !own.Contains(f)))
        {
            copy.Remove(field);
        }
        return copy;
    }

    /// <summary>
    /// The settings fields of adapter files written while every method shared one settings record (the
    /// union of all methods' fields, each file holding all of them). Read only to be set aside.
    /// </summary>
    private static readonly string[] LegacyUnionFields =
        ["prefix_size", "rank", "alpha", "targets", "tokens", "projection_hidden", "init_std", "rank_pattern", "alpha_pattern"];

    /// <summary>An adapter description as stored, its settings still JSON for the method to read.</summary>
    private sealed record StoredInfo(string Method, JsonObject Settings, string BaseFingerprint, int PrefixSize, string? Task, long Steps, KvPositions? Positions = null, string? Precision = null);

    /// <summary>
    /// Whether a stored base fingerprint names the model whose <see cref="Fingerprint"/> is
    /// <paramref name="actual"/>: equal, or for a legacy 16-digit one, its first 16 digits.
    /// </summary>
    public static bool SameBase(string stored, string actual) =>
        stored.Length == LegacyFingerprintLength ? actual.StartsWith(stored, StringComparison.Ordinal) : stored == actual;

    /// <summary>
    /// The SHA-256 of a model's weights (over names, shapes and bytes, in name order) as 64 hex digits:
    /// equal for the same weights, different when any weight differs.
    /// </summary>
    public static string Fingerprint(ILanguageModel model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, value) in model.Module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}:{string.Join(",", value.shape)};"));
            using var contiguous = value.detach().cpu().contiguous();
            hash.AppendData(contiguous.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
