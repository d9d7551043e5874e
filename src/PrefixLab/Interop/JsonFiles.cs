using System.Text.Json;
using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>The JSON files of other tools' layouts (<c>config.json</c>, <c>adapter_config.json</c>, indexes).</summary>
internal static class JsonFiles
{
    /// <summary>Reads a file holding one JSON object; anything else is a one-line <see cref="PrefixLabException"/>.</summary>
    public static JsonObject ReadObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new JsonException("empty");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new PrefixLabException($"'{path}' is not valid JSON: {e.Message.Split('\n')[0]}");
        }
    }
}
