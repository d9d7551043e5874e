using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// Construction 1 (paper Section 3): one virtual token makes a one-layer, two-head transformer with a
/// ReLU MLP generate any sequence of <see cref="Length"/> tokens over <see cref="Vocab"/> (V^N choices).
/// The virtual token holds the sequence; each position reads its own entry.
/// </summary>
public sealed class Unconditional : IDisposable
{
    private readonly LookupModel lookup;

    /// <summary>Builds the model (past the exact range only without <paramref name="enforceLimits"/>, to measure) for sequences of <paramref name="length"/> tokens over <paramref name="vocab"/>.</summary>
    public Unconditional(int vocab, int length, ScalarType dtype = ScalarType.Float32, bool enforceLimits = true)
    {
        PrefixLabException.Check(length >= 1, $"the sequence needs at least 1 token (got {length})");
        Vocab = vocab;
        Length = length;
        lookup = new LookupModel("unconditional", vocab, 1, length, byPosition: true, length, dtype, enforceLimits);
    }

    /// <summary>V.</summary>
    public int Vocab { get; }

    /// <summary>N.</summary>
    public int Length { get; }

    /// <summary>The model and its input shape: one virtual token, no user token, N generated.</summary>
    public Construction Construction => lookup.Construction;

    /// <summary>The virtual tokens <c>[batch, 1, width]</c> that generate each of <paramref name="sequences"/>.</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<int>> sequences) =>
        lookup.Encode([.. sequences.Select(s => new[] { Targets.Check(s, Length, Vocab, "sequence") })]);

    /// <summary>The virtual token <c>[1, width]</c> that generates <paramref name="sequence"/>.</summary>
    public Tensor Encode(IReadOnlyList<int> sequence) => Encode([sequence])[0];

    /// <inheritdoc />
    public void Dispose() => Construction.Dispose();
}

/// <summary>Checks of the targets a construction encodes.</summary>
internal static class Targets
{
    /// <summary>Returns <paramref name="values"/> as an array after checking its length and that every id is below <paramref name="vocab"/>.</summary>
    public static int[] Check(IReadOnlyList<int> values, int length, int vocab, string what)
    {
        PrefixLabException.Check(values.Count == length, $"the {what} has {values.Count} tokens, the model was built for {length}");
        foreach (int v in values)
        {
            PrefixLabException.Check(v >= 0 && v < vocab, $"token {v} in the {what} is outside the vocabulary of {vocab}");
        }
        return [.. values];
    }
}
