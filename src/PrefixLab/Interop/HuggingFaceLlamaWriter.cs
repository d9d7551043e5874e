using PrefixLab.Model;

namespace PrefixLab.Interop;

/// <summary>
/// Writes a Llama-family model that was loaded from a Hugging Face folder back in that folder's layout
/// (<see cref="HuggingFaceWriter"/>), as <c>save_pretrained</c> writes it: the source's
/// <c>config.json</c> with its architecture and model type, <c>model.safetensors</c> under Hugging
/// Face's names (which are PrefixLab's), in the compute type, without <c>lm_head.weight</c> when the
/// head is tied, and the tokenizer files.
/// </summary>
public static class HuggingFaceLlamaWriter
{
    private static readonly Dictionary<string, string> Architectures = new(StringComparer.Ordinal)
    {
        ["llama"] = "LlamaForCausalLM",
        ["mistral"] = "MistralForCausalLM",
        ["qwen2"] = "Qwen2ForCausalLM",
    };

    /// <summary>
    /// Writes <paramref name="model"/>, loaded from the Hugging Face folder <paramref name="source"/>,
    /// as a new checkpoint folder <paramref name="directory"/>; <paramref name="baseName"/> becomes
    /// <c>_name_or_path</c>.
    /// </summary>
    public static void Save(string directory, Llama model, string source, string baseName)
    {
        HuggingFaceWriter.CheckOutput(directory);
        var config = HuggingFaceLlama.ReadConfig(source);
        PrefixLabException.Check(config == model.Config, $"the model is not of the architecture of '{source}', so it cannot be written in its layout");
        HuggingFaceWriter.Write(directory, source, baseName, Architectures[config.ModelType], config.ModelType, model.state_dict());
    }
}
