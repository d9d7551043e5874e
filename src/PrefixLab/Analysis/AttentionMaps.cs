using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>One head's attention over one sequence, laid out for drawing: rows are queries, columns keys.</summary>
/// <param name="Layer">Block index.</param>
/// <param name="Head">Head index.</param>
/// <param name="Weights">Attention probabilities <c>[query, key]</c>.</param>
/// <param name="QueryLabels">One label per row: the token (its id or its text), or <c>p1</c>… for a prefix position, <c>_</c> for padding.</param>
/// <param name="KeyLabels">One label per column.</param>
/// <param name="QueryBoundaries">Rows where a region (prefix, padding, input, output) starts, the first excluded.</param>
/// <param name="KeyBoundaries">Columns where a region starts, the first excluded.</param>
public sealed record AttentionMap(
    int Layer,
    int Head,
    double[,] Weights,
    IReadOnlyList<string> QueryLabels,
    IReadOnlyList<string> KeyLabels,
    IReadOnlyList<int> QueryBoundaries,
    IReadOnlyList<int> KeyBoundaries);

/// <summary>Turns a recording of one sequence into per-head attention maps, as the paper's figures show them.</summary>
public static class AttentionMaps
{
    /// <summary>
    /// The maps of sequence 0 of <paramref name="recording"/>, whose layout is <paramref name="padding"/>
    /// padding positions, then <paramref name="inputLength"/> input tokens, then the output. With
    /// <paramref name="rescalePrefix"/> the prefix and padding columns are hidden and each row is
    /// renormalised over the rest (the rows of prefix positions, left with nothing, are hidden too).
    /// Only <paramref name="layer"/> and <paramref name="head"/> when given. Tokens are labelled by
    /// <paramref name="tokenLabel"/> (e.g. GPT-2's decoded token strings), by default their ids.
    /// </summary>
    public static IReadOnlyList<AttentionMap> Build(AttentionRecording recording, PrefixGeometry geometry, int padding, int inputLength, bool rescalePrefix, int? layer = null, int? head = null, Func<long, string>? tokenLabel = null)
    {
        tokenLabel ??= t => t.ToString(System.Globalization.CultureInfo.InvariantCulture);
        int layers = recording.Layers.Count;
        int heads = (int)recording.Layers[0].Pattern.shape[1];
        PrefixLabException.Check(layer is null || (layer >= 0 && layer < layers), $"--layer must be between 0 and {layers - 1} (got {layer})");
        PrefixLabException.Check(head is null || (head >= 0 && head < heads), $"--head must be between 0 and {heads - 1} (got {head})");
        var tokens = recording.Tokens[0].data<long>().ToArray();
        int extra = geometry.Form == PrefixForm.KeysValues ? geometry.Size : 0;
        var sequenceLabels = tokens.Select((t, i) => i < padding ? (geometry.Form == PrefixForm.Rows && i < geometry.Size ? $"p{i + 1}" : "_") : tokenLabel(t)).ToList();
        var keyLabels = Enumerable.Range(1, extra).Select(k => $"p{k}").Concat(sequenceLabels).ToList();
        int[] sequenceStarts = [padding, padding + inputLength];
        // Hidden when rescaling: the key/value prefix and the padding (or the prefix in its place).
        int hiddenKeys = rescalePrefix ? extra + padding : 0;
        int hiddenRows = rescalePrefix ? padding : 0;

        var maps = new List<AttentionMap>();
        for (int l = 0; l < layers; l++)
        {
            if (layer is int only && only != l)
            {
                continue;
            }
            using var pattern = recording.Layers[l].Pattern[0].to_type(ScalarType.Float64);
            for (int h = 0; h < heads; h++)
            {
                if (head is int onlyHead && onlyHead != h)
                {
                    continue;
                }
                var weights = Slice(pattern[h], hiddenRows, hiddenKeys, rescalePrefix);
                maps.Add(new AttentionMap(
                    l,
                    h,
                    weights,
                    sequenceLabels.Skip(hiddenRows).Take(weights.GetLength(0)).ToList(),
                    keyLabels.Skip(hiddenKeys).ToList(),
                    Boundaries(sequenceStarts, -hiddenRows, weights.GetLength(0)),
                    Boundaries([extra, .. sequenceStarts.Select(s => s + extra)], -hiddenKeys, weights.GetLength(1))));
            }
        }
        return maps;
    }

    private static double[,] Slice(Tensor pattern, int skipRows, int skipColumns, bool renormalise)
    {
        using var kept = pattern[TensorIndex.Slice(skipRows), TensorIndex.Slice(skipColumns)];
        using var rows = renormalise ? kept / kept.sum(-1, keepdim: true) : kept.clone();
        int r = (int)rows.shape[0], c = (int)rows.shape[1];
        var values = rows.contiguous().data<double>().ToArray();
        var result = new double[r, c];
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(double));
        return result;
    }

    private static int[] Boundaries(IEnumerable<int> starts, int shift, int count) =>
        [.. starts.Select(s => s + shift).Where(s => s > 0 && s < count).Distinct().Order()];
}
