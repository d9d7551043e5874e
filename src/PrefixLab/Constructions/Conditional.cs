using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// Construction 2 (paper Section 3): one virtual token makes the model answer any map V → V from one
/// user token. The virtual token holds m(c) at coordinate c; the user token selects it.
/// </summary>
public sealed class Conditional : IDisposable
{
    private readonly LookupModel lookup;

    /// <summary>Builds the model (past the exact range only without <paramref name="enforceLimits"/>, to measure) for maps over <paramref name="vocab"/> tokens.</summary>
    public Conditional(int vocab, ScalarType dtype = ScalarType.Float32, bool enforceLimits = true)
    {
        Vocab = vocab;
        lookup = new LookupModel("map", vocab, 1, vocab, byPosition: false, 1, dtype, enforceLimits);
    }

    /// <summary>V.</summary>
    public int Vocab { get; }

    /// <summary>The model and its input shape: one virtual token, one user token, one generated.</summary>
    public Construction Construction => lookup.Construction;

    /// <summary>The virtual tokens <c>[batch, 1, width]</c> of <paramref name="maps"/> (each: m(c) for c = 0..V−1).</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<int>> maps) =>
        lookup.Encode([.. maps.Select(m => new[] { Targets.Check(m, Vocab, Vocab, "map") })]);

    /// <summary>The virtual token <c>[1, width]</c> of <paramref name="map"/>.</summary>
    public Tensor Encode(IReadOnlyList<int> map) => Encode([map])[0];

    /// <inheritdoc />
    public void Dispose() => Construction.Dispose();
}
