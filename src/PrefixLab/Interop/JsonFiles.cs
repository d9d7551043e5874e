using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>
/// Strict JSON for everything PrefixLab reads from users' files: safetensors headers, their metadata
/// values, <c>config.json</c>, <c>adapter_config.json</c>, indexes. Strict means valid UTF-8, no lone
/// surrogate escapes, no duplicate keys (which readers resolve differently), so that two tools cannot
/// read one file two ways; anything else is a one-line <see cref="PrefixLabException"/>.
/// </summary>
internal static class JsonFiles
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowDuplicateProperties = false };

    /// <summary>Reads a file holding one JSON object; anything else is a one-line <see cref="PrefixLabException"/>.</summary>
    public static JsonObject ReadObject(string path)
    {
        PrefixLabException.Check(File.Exists(path), $"file not found: '{path}'");
        return ParseObject(File.ReadAllBytes(path), $"'{path}' is not valid JSON");
    }

    /// <summary>
    /// Parses <paramref name="utf8"/> as one JSON object after the strict checks; a failure is a
    /// <see cref="PrefixLabException"/> of <paramref name="what"/> and the reason.
    /// </summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> utf8, string what)
    {
        try
        {
            StrictUtf8.GetCharCount(utf8); // throws on invalid UTF-8, including encoded surrogates
            using (var document = JsonDocument.Parse(utf8.ToArray(), DocumentOptions))
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new JsonException($"the top level is a {document.RootElement.ValueKind}, not an object");
                }
                CheckStrings(document.RootElement);
            }
            return JsonNode.Parse(utf8)!.AsObject();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or DecoderFallbackException)
        {
            throw new PrefixLabException($"{what}: {Reason(e)}");
        }
    }

    /// <summary>Checks <paramref name="json"/> as <see cref="ParseObject"/> does, for text already decoded.</summary>
    public static void CheckObject(string json, string what)
    {
        // A .NET string can hold a lone surrogate that UTF-8 cannot encode: the strict encoder refuses it.
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(json);
        }
        catch (EncoderFallbackException)
        {
            throw new PrefixLabException($"{what}: it holds a lone UTF-16 surrogate");
        }
        ParseObject(utf8, what);
    }

    /// <summary>Decodes every property name and string, which throws on a lone surrogate escape such as <c>"\ud800"</c>.</summary>
    private static void CheckStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    CheckStrings(property.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CheckStrings(item);
                }
                break;
            case JsonValueKind.String:
                _ = element.GetString();
                break;
        }
    }

    private static string Reason(Exception e) => e switch
    {
        DecoderFallbackException => "it is not valid UTF-8",
        InvalidOperationException => "it holds invalid UTF-8 or a lone UTF-16 surrogate escape",
        _ => e.Message.Split('\n')[0],
    };
}
