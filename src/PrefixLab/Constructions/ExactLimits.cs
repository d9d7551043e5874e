using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// When the constructions are exact, and the one-line refusals past that. Every quantity in their
/// forward passes is an integer (token ids, packed tables, logits 2·z·c − c²), and attention is exactly
/// one-hot (see <see cref="AttentionScale"/>), so a construction is exact while its integers are
/// representable: up to 2^24 in float32, 2^53 in float64. The README's "Constructions" section has the
/// measured limits, which agree.
/// </summary>
public static class ExactLimits
{
    /// <summary>
    /// Factor on the attention scores. Attended keys score this much, the others 0; e^−1000 underflows
    /// to exactly 0 in float32 (below e^−104) and float64 (below e^−745), so softmax returns exact 1s and
    /// 0s for any number of positions and a head copies its source bit for bit.
    /// </summary>
    public const double AttentionScale = 1000;

    /// <summary>
    /// Widest residual stream built. Greedy generation of N tokens keeps a key/value cache that it
    /// copies to grow at every step, and the freed copies fragment the heap: measured, N = 681 at width
    /// 2,048 peaks at 4.1 GB in float32 (7.9 GB in float64), too much for this shared machine. A memory
    /// bound, not a precision bound.
    /// </summary>
    public const int MaxWidth = 1024;

    /// <summary>Largest integer below which every integer is exact: 2^24 (float32) or 2^53 (float64).</summary>
    public static double ExactIntegers(ScalarType dtype) => dtype == ScalarType.Float64 ? Math.Pow(2, 53) : Math.Pow(2, 24);

    /// <summary>Name of a floating-point type as the CLI spells it.</summary>
    public static string Name(ScalarType dtype) => dtype == ScalarType.Float64 ? "float64" : "float32";

    /// <summary>The floating-point type <paramref name="name"/> spells (<c>float32</c> or <c>float64</c>); <paramref name="what"/> names the setting in the error.</summary>
    public static ScalarType Parse(string name, string what) => name switch
    {
        "float32" => ScalarType.Float32,
        "float64" => ScalarType.Float64,
        _ => throw new PrefixLabException($"{what} is float32 or float64 (got '{name}')"),
    };

    /// <summary>
    /// Largest vocabulary whose unembedding is exact. The logit of token c at value z is 2·z·c − c²:
    /// c² must be an exact integer, and so must 2·z·c, which is even and so exact up to twice that
    /// (float32: 2^25), and the result c·(2z − c) lies within ±c². So (V−1)² ≤ 2^24 (float32: V ≤ 4,097)
    /// or 2^53 (float64).
    /// </summary>
    public static int MaxVocab(ScalarType dtype) => 1 + (int)Math.Floor(Math.Sqrt(ExactIntegers(dtype)));

    /// <summary>Largest vocabulary whose V×V table packs exactly into V numbers of base-V digits: V^V ≤ 2^24 or 2^53.</summary>
    public static int MaxPackedVocab(ScalarType dtype)
    {
        int v = 1;
        while (Math.Pow(v + 1, v + 1) <= ExactIntegers(dtype))
        {
            v++;
        }
        return v;
    }

    /// <summary>Refuses a vocabulary past <see cref="MaxVocab"/>.</summary>
    public static void CheckVocab(int vocab, ScalarType dtype)
    {
        PrefixLabException.Check(vocab >= 2, $"the vocabulary needs at least 2 tokens (got {vocab})");
        int max = MaxVocab(dtype);
        PrefixLabException.Check(vocab <= max, $"vocabulary {vocab} is not exact in {Name(dtype)}: the logits 2·z·c − c² need (V−1)² = {(double)(vocab - 1) * (vocab - 1):N0} exact, past {ExactIntegers(dtype):N0}, below which {Name(dtype)} holds every integer (largest exact V: {max})");
    }

    /// <summary>Refuses a residual stream wider than <see cref="MaxWidth"/>.</summary>
    public static void CheckWidth(int width, string what) =>
        PrefixLabException.Check(width <= MaxWidth, $"{what} needs a residual stream of width {width}, more than the {MaxWidth} built here (greedy generation's key/value cache would need gigabytes): a memory bound, not a precision bound");

    /// <summary>Refuses a pair map whose packed table is not exact.</summary>
    public static void CheckPacked(int vocab, ScalarType dtype)
    {
        PrefixLabException.Check(vocab >= 2, $"the vocabulary needs at least 2 tokens (got {vocab})");
        int max = MaxPackedVocab(dtype);
        PrefixLabException.Check(vocab <= max, $"pair map with vocabulary {vocab} is not exact in {Name(dtype)}: a table row packs {vocab} base-{vocab} digits into one number up to V^V = {Math.Pow(vocab, vocab):G4}, past {ExactIntegers(dtype):N0}, below which {Name(dtype)} holds every integer (largest exact V: {max}{(dtype == ScalarType.Float32 ? $"; float64: {MaxPackedVocab(ScalarType.Float64)}" : "")})");
    }
}
