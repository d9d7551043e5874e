using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PrefixLab.Util;

namespace PrefixLab.Experiments;

/// <summary>
/// Files kept between runs, named by a hash of everything that determines them: trained models and
/// adapters (with their checkpoints, so an interrupted training resumes) and finished seeds' results.
/// Every write is atomic, so a killed run leaves either a whole file or none.
/// </summary>
/// <param name="root">The cache folder.</param>
public sealed class ResultCache(string root)
{
    /// <summary>Part of every key: bumped when a change to training or evaluation makes old files wrong.</summary>
    public const int FormatVersion = 1;

    /// <summary>The cache folder.</summary>
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>A 20-hex-digit key: SHA-256 of <paramref name="identity"/> serialised as JSON, with the format version.</summary>
    public static string Key(object identity)
    {
        string json = JsonSerializer.Serialize(new { v = FormatVersion, identity }, SpecLoader.Json);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..20];
    }

    /// <summary>The path of a file of <paramref name="kind"/> (a subfolder) with <paramref name="key"/> and <paramref name="extension"/>.</summary>
    public string PathOf(string kind, string key, string extension) => Path.Combine(Root, kind, key + extension);

    /// <summary>Reads the JSON value stored under <paramref name="kind"/>/<paramref name="key"/>, or null.</summary>
    public T? Read<T>(string kind, string key)
        where T : class
    {
        string path = PathOf(kind, key, ".json");
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), SpecLoader.Json);
        }
        catch (JsonException)
        {
            return null; // written by another version: recompute
        }
    }

    /// <summary>Stores <paramref name="value"/> as JSON under <paramref name="kind"/>/<paramref name="key"/>, atomically.</summary>
    public void Write<T>(string kind, string key, T value) =>
        AtomicFile.WriteText(PathOf(kind, key, ".json"), JsonSerializer.Serialize(value, SpecLoader.Json));
}
