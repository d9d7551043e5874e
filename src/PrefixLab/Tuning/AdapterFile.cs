using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>What an adapter file says besides its tensors.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Settings">The method's settings (reparameterisations already folded).</param>
/// <param name="BaseFingerprint">Fingerprint of the base model's weights it was trained on.</param>
/// <param name="PrefixSize">The padding positions of the inputs it was trained with.</param>
/// <param name="Task">The task it was trained on.</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Positions">
/// Where a key/value prefix leaves the content on the position embedding (<see cref="KvPositions"/>):
/// <c>AfterPrefix</c> in files written since PrefixLab follows Hugging Face; absent (null) in older
/// files, whose prefix-kv adapters are read as <c>FromZero</c>, as they were trained.
/// </param>
public sealed record AdapterInfo(string Method, TuningSettings Settings, string BaseFingerprint, int PrefixSize, string? Task, long Steps,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] KvPositions? Positions = null);

/// <summary>
/// Adapter files: a method's own tensors only, in safetensors, with the method, its settings and the
/// fingerprint of the base weights in the metadata, so that loading onto another base model is refused.
/// </summary>
public static class AdapterFile
{
    /// <summary>
    /// Writes <paramref name="method"/>'s tensors and <paramref name="info"/> to <paramref name="path"/>
    /// atomically; the position convention recorded is the method's own.
    /// </summary>
    public static void Save(string path, ITuningMethod method, AdapterInfo info)
    {
        SafeTensors.Save(path, method.SaveTensors(), new Dictionary<string, string>
        {
            ["format"] = ModelFile.Format,
            ["kind"] = "adapter",
            ["adapter"] = JsonSerializer.Serialize(info with { Positions = method.Settings.KvPositions }, ModelFile.Json),
        });
    }

    /// <summary>Reads an adapter file's description.</summary>
    public static AdapterInfo ReadInfo(string path)
    {
        var metadata = SafeTensors.ReadMetadata(path);
        if (!metadata.TryGetValue("kind", out var kind) || kind != "adapter" || !metadata.TryGetValue("adapter", out var json))
        {
            throw new PrefixLabException($"'{path}' is not a PrefixLab adapter{(kind is null ? "" : $" (it is a {kind})")}");
        }
        return ModelFile.ParseJson<AdapterInfo>(path, json, "adapter description");
    }

    /// <summary>
    /// Attaches the adapter at <paramref name="path"/> to <paramref name="model"/>, which must be the model
    /// it was trained on (same weights fingerprint). A directory is read as a PEFT adapter
    /// (<see cref="PeftFormat"/>), which carries no fingerprint. <paramref name="fingerprint"/> is the
    /// model's <see cref="Fingerprint"/> when the caller has it already (it hashes every weight).
    /// </summary>
    public static (ITuningMethod Method, AdapterInfo Info) Load(string path, Gpt model, string? fingerprint = null)
    {
        if (Directory.Exists(path))
        {
            return PeftFormat.Load(path, model);
        }
        var info = ReadInfo(path);
        fingerprint ??= Fingerprint(model);
        if (info.BaseFingerprint != fingerprint)
        {
            throw new PrefixLabException($"adapter '{path}' was trained on another base model (fingerprint {info.BaseFingerprint}, this model {fingerprint})");
        }
        var (tensors, _) = SafeTensors.Load(path);
        // A file without the field predates the convention: its key/value prefix left the content at 0.
        info = info with { Settings = info.Settings with { KvPositions = info.Positions ?? KvPositions.FromZero } };
        var method = TuningMethods.Create(info.Method, model, info.Settings);
        try
        {
            method.LoadTensors(tensors);
        }
        catch
        {
            method.Dispose();
            throw;
        }
        return (method, info);
    }

    /// <summary>
    /// A short hash of a model's weights (SHA-256 over names, shapes and bytes, in name order): equal for
    /// the same weights, different when any weight differs.
    /// </summary>
    public static string Fingerprint(nn.Module model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, value) in model.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}:{string.Join(",", value.shape)};"));
            using var contiguous = value.detach().cpu().contiguous();
            hash.AppendData(contiguous.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}
