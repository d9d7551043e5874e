using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// How strict loading a model or adapter is about its values. By default a weight that is NaN or ±∞
/// is refused: such a model evaluates to 0% without any other sign. <see cref="AllowNonFinite"/> loads
/// it anyway (to inspect a diverged run) and reports it once through <see cref="Warn"/>.
/// </summary>
public sealed class LoadOptions
{
    private bool warned;

    /// <summary>Reads values as stored, silently: for readers whose caller checks the values itself.</summary>
    internal static LoadOptions AsStored { get; } = new() { AllowNonFinite = true };

    /// <summary>Load weights holding NaN or ±∞ instead of refusing the file.</summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>
    /// The compute type of a family that lets the loader choose (Llama: float32, the default, or
    /// bfloat16); null keeps the family's default. A GPT model runs in the type it is stored in.
    /// </summary>
    public ScalarType? Dtype { get; init; }

    /// <summary>Where the one warning about non-finite weights goes (the command line: stderr).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Refuses, or warns about (only the first time), <paramref name="tensor"/> if it holds NaN or ±∞.</summary>
    internal void CheckFinite(string path, string name, Tensor tensor)
    {
        if (!tensor.is_floating_point())
        {
            return;
        }
        if (!AllFinite(tensor))
        {
            NonFinite(path, name);
        }
    }

    /// <summary>
    /// True when every value of <paramref name="tensor"/> is finite. A sum is NaN or ±∞ when any term
    /// is, so a finite sum settles it in one pass with no allocation; only a non-finite sum (a NaN, an
    /// infinity, or finite values that overflow the type) is checked value by value. An <c>isfinite</c>
    /// mask for every tensor costs a byte per weight of fresh memory, and fresh pages are slow to fault
    /// in (on this project's VM the masks made a third of a checkpoint's load time). The sum stays in
    /// the tensor's type: asking for a float64 sum converts the whole tensor first.
    /// </summary>
    internal static bool AllFinite(Tensor tensor)
    {
        using (var sum = tensor.sum())
        using (var wide = sum.to_type(ScalarType.Float64))
        {
            if (double.IsFinite(wide.item<double>()))
            {
                return true;
            }
        }
        using var finite = isfinite(tensor);
        using var all = finite.all();
        return all.item<bool>();
    }

    /// <summary>Refuses, or warns about (only the first time), tensor <paramref name="name"/> of <paramref name="path"/> holding NaN or ±∞.</summary>
    private void NonFinite(string path, string name)
    {
        PrefixLabException.Check(AllowNonFinite, $"'{path}': tensor '{name}' holds NaN or infinite values (--allow-nonfinite loads it anyway)");
        if (!warned)
        {
            warned = true;
            Warn?.Invoke($"'{path}': tensor '{name}' holds NaN or infinite values; loaded anyway (--allow-nonfinite)");
        }
    }
}
