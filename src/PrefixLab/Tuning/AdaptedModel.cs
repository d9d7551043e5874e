using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// A model (a model file or a Hugging Face folder, <see cref="ModelLoader"/>) with an optional adapter
/// on it, loaded the way every command loads them. An adapter file
/// is attached to the model (its base fingerprint checked); a model file or Hugging Face model folder given
/// as the adapter (full fine-tuning saves one) takes the base's place and must share its architecture.
/// </summary>
public sealed class AdaptedModel : IDisposable
{
    private AdaptedModel(ILanguageModel model, ModelInfo info, ITuningMethod? method, string? methodName, int prefixSize, string? task)
    {
        Task = task;
        Model = model;
        Info = info;
        Method = method;
        MethodName = methodName;
        PrefixSize = prefixSize;
    }

    /// <summary>The model to run: the base with the adapter attached, or the fine-tuned model.</summary>
    public ILanguageModel Model { get; }

    /// <summary>What the base model's file says.</summary>
    public ModelInfo Info { get; }

    /// <summary>The attached method; null without an adapter and for a fine-tuned model file.</summary>
    public ITuningMethod? Method { get; }

    /// <summary>The adapter's method name (<c>full</c> for a model file), or null without an adapter.</summary>
    public string? MethodName { get; }

    /// <summary>Padding positions in front of each input: the adapter's, else the model's.</summary>
    public int PrefixSize { get; }

    /// <summary>The task the adapter (else the model) was last trained on, if its file says.</summary>
    public string? Task { get; }

    /// <summary>
    /// Loads <paramref name="modelPath"/> and, when given, the adapter or fine-tuned model at
    /// <paramref name="adapterPath"/>; <paramref name="options"/> say whether NaN or ±∞ weights are refused (the default).
    /// </summary>
    public static AdaptedModel Load(string modelPath, string? adapterPath, LoadOptions? options = null)
    {
        var (model, info) = ModelLoader.Load(modelPath, options);
        if (adapterPath is null)
        {
            return new AdaptedModel(model, info, null, null, info.PrefixSize, info.Task);
        }
        try
        {
            if (IsWholeModel(adapterPath))
            {
                var (tuned, tunedInfo) = ModelLoader.Load(adapterPath, options);
                if (!tuned.Config.Equals(model.Config))
                {
                    tuned.Dispose();
                    throw new PrefixLabException($"'{adapterPath}' is a model of another architecture than '{modelPath}' ({tuned.Config} vs {model.Config})");
                }
                model.Dispose();
                // The method that saves model files names it.
                return new AdaptedModel(tuned, info, null, TuningMethods.All.First(k => k.SavesModel).Name, tunedInfo.PrefixSize, tunedInfo.Task);
            }
            var (method, adapterInfo) = AdapterFile.Load(adapterPath, model, options: options);
            // A PEFT folder does not say how the inputs were padded: as the method pads this model's inputs.
            int padding = Directory.Exists(adapterPath) ? method.InputPadding(info.PrefixSize) : adapterInfo.PrefixSize;
            return new AdaptedModel(model, info, method, adapterInfo.Method, padding, adapterInfo.Task ?? info.Task);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether <paramref name="path"/> holds a whole model rather than an adapter: a PrefixLab model file,
    /// or a Hugging Face model folder (full fine-tuning of a Hugging Face model saves one), which has a
    /// <c>config.json</c> and, unlike a PEFT folder, no <c>adapter_config.json</c>.
    /// </summary>
    private static bool IsWholeModel(string path) => File.Exists(path)
        ? FileKinds.Is(SafeTensors.ReadMetadata(path), FileKinds.Model)
        : Directory.Exists(path) && !File.Exists(Path.Combine(path, PeftFormat.ConfigFile)) && File.Exists(Path.Combine(path, HuggingFaceGpt2.ConfigFile));

    /// <summary>
    /// Makes every weight float64. The method folds itself into the weights first where it must
    /// (<see cref="ITuningMethod.BeforeConversion"/>: LoRA merges, its hooks then add nothing); the other
    /// methods' tensors are cast to the activations' type where they enter the forward pass, so they take
    /// part in float64 too (a float32 value is exact in float64).
    /// </summary>
    public void ToFloat64()
    {
        Method?.BeforeConversion();
        Model.Module.to(ScalarType.Float64);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Method?.Dispose();
        Model.Dispose();
    }
}
