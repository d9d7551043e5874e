using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// Construction 3 (paper Section 3): N0 virtual tokens encode any map V → V^N0. Virtual token j holds
/// the j-th answer token of every input; the j-th generating position reads slot j at the user token.
/// </summary>
public sealed class TokenToSequence : IDisposable
{
    private readonly LookupModel lookup;

    /// <summary>Builds the model (past the exact range only without <paramref name="enforceLimits"/>, to measure) for maps from <paramref name="vocab"/> tokens to sequences of <paramref name="length"/>.</summary>
    public TokenToSequence(int vocab, int length, ScalarType dtype = ScalarType.Float32, bool enforceLimits = true)
    {
        PrefixLabException.Check(length >= 1, $"the answers need at least 1 token (got {length})");
        Vocab = vocab;
        Length = length;
        lookup = new LookupModel("seq-map", vocab, length, vocab, byPosition: false, length, dtype, enforceLimits);
    }

    /// <summary>V.</summary>
    public int Vocab { get; }

    /// <summary>N0, the answer length and the number of virtual tokens.</summary>
    public int Length { get; }

    /// <summary>The model and its input shape: N0 virtual tokens, one user token, N0 generated.</summary>
    public Construction Construction => lookup.Construction;

    /// <summary>The virtual tokens <c>[batch, N0, width]</c> of <paramref name="maps"/> (each: V answers of N0 tokens).</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<IReadOnlyList<int>>> maps) =>
        lookup.Encode([.. maps.Select(Slots)]);

    /// <summary>The virtual tokens <c>[N0, width]</c> of <paramref name="map"/>.</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<int>> map) => Encode([map])[0];

    /// <inheritdoc />
    public void Dispose() => Construction.Dispose();

    private int[][] Slots(IReadOnlyList<IReadOnlyList<int>> map)
    {
        PrefixLabException.Check(map.Count == Vocab, $"the map has {map.Count} answers, the vocabulary {Vocab} tokens");
        var answers = map.Select(a => Targets.Check(a, Length, Vocab, "answer")).ToArray();
        return [.. Enumerable.Range(0, Length).Select(j => answers.Select(a => a[j]).ToArray())];
    }
}
