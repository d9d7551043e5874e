using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// Writes a GPT-2 that was loaded from a Hugging Face folder back in that folder's layout, as
/// <c>GPT2LMHeadModel.save_pretrained</c> writes it (<see cref="HuggingFaceWriter"/>): the source's
/// <c>config.json</c>, <c>model.safetensors</c> with <c>transformer.</c>-prefixed names, Conv1D weights
/// stored <c>[in, out]</c> and no <c>lm_head.weight</c> when the head is tied, and the tokenizer files.
/// </summary>
public static class HuggingFaceGpt2Writer
{
    /// <summary>
    /// Writes <paramref name="model"/>, loaded from the Hugging Face folder <paramref name="source"/>,
    /// as a new checkpoint folder <paramref name="directory"/>. <paramref name="baseName"/> is recorded as
    /// <c>_name_or_path</c>: the name the user gave the base model, never a path they did not type.
    /// </summary>
    public static void Save(string directory, Gpt model, string source, string baseName)
    {
        HuggingFaceWriter.CheckOutput(directory);
        var config = HuggingFaceGpt2.ReadConfig(source);
        PrefixLabException.Check(config == model.Config, $"the model is not of the architecture of '{source}', so it cannot be written in its layout");
        // PrefixLab's parameter names are GPT2LMHeadModel's; only Conv1D weights are stored transposed.
        // A tied head is no parameter here, and transformers leaves it out of safetensors files too.
        using var scope = NewDisposeScope();
        var tensors = model.state_dict().ToDictionary(
            kv => kv.Key,
            kv => HuggingFaceGpt2.IsConv1DWeight(kv.Key) ? kv.Value.detach().t() : kv.Value,
            StringComparer.Ordinal);
        HuggingFaceWriter.Write(directory, source, baseName, "GPT2LMHeadModel", "gpt2", tensors);
    }
}
