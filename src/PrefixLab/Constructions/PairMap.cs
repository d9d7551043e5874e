using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// Construction 4 (paper Section 3): one virtual token makes a two-layer, one-head model answer any
/// map V × V → V from two user tokens a, b. The virtual token packs row a of the table into one
/// number, T_a = Σ_b m(a, b)·V^b. Layer 1 copies the V numbers to every position and its MLP keeps
/// T at the position's own token; layer 2 copies T_a from the first user token to the second, and its
/// MLP decodes base-V digit b with network layers where the companion notebook calls a Python function:
/// most significant digit first, digit j = Σ_k step(r − k·V^j), each step ReLU(ReLU(x + 1) − ReLU(x))
/// over integers (two hidden layers a digit), the remainder r passed on; a last hidden layer keeps
/// digit b. Every value is an integer below V^V, so the model is exact exactly while V^V is an exact
/// integer of the floating-point type: V ≤ 8 in float32, V ≤ 13 in float64
/// (<see cref="ExactLimits.MaxPackedVocab"/>).
/// </summary>
public sealed class PairMap : IDisposable
{
    private readonly int one;
    private readonly int virtualFlag;
    private readonly int packed;
    private readonly int width;

    /// <summary>
    /// Builds the model for tables over <paramref name="vocab"/> tokens; past the exact range only
    /// without <paramref name="enforceLimits"/>, to measure where it breaks.
    /// </summary>
    public PairMap(int vocab, ScalarType dtype = ScalarType.Float32, bool enforceLimits = true)
    {
        if (enforceLimits)
        {
            ExactLimits.CheckPacked(vocab, dtype);
        }
        Vocab = vocab;
        var c = new Coordinates();
        one = c.One();
        virtualFlag = c.One();
        int firstFlag = c.One();
        packed = c.Block(vocab);
        int copied = c.Block(vocab);
        int notToken = c.Block(vocab);
        int row = c.One();
        int rowCopy = c.One();
        int value = c.One();
        width = c.Width(heads: 1, headDim: 1);
        ExactLimits.CheckWidth(Math.Max(width, (4 * vocab) - 3), $"pair map with V = {vocab}");
        var model = WeightSheet.NewModel(vocab, 3, 2, 1, width, (4 * vocab) - 3, (2 * vocab) - 1, dtype);
        var w = new WeightSheet(model);
        for (int token = 0; token < vocab; token++)
        {
            w.TokenEmbedding(token, one, 1);
            for (int k = 0; k < vocab; k++)
            {
                w.TokenEmbedding(token, notToken + k, k == token ? 0 : 1);
            }
            w.Unembedding(token, value, 2.0 * token);
            w.Unembedding(token, one, -(double)token * token);
        }
        w.PositionEmbedding(1, firstFlag, 1);

        // Layer 1: every position copies the packed rows from the virtual token and keeps the row of its token.
        w.Query(0, 0, 0, one);
        w.Key(0, 0, 0, virtualFlag);
        for (int k = 0; k < vocab; k++)
        {
            w.Copy(0, 0, k, packed + k, copied + k);
        }
        double big = Math.Pow(vocab, vocab); // above every packed row, so a gated row drops below 0
        var select = w.Mlp(0);
        var rows = Enumerable.Range(0, vocab).Select(k => select.Unit(new Affine([(copied + k, 1), (notToken + k, -big)]))).ToList();
        select.Output(row, Affine.Sum(rows));

        // Layer 2: every position copies the row kept at the first user token, then decodes its own token's digit.
        w.Query(1, 0, 0, one);
        w.Key(1, 0, 0, firstFlag);
        w.Copy(1, 0, 0, row, rowCopy);
        Decode(w.Mlp(1), vocab, Affine.Of(rowCopy), [.. Enumerable.Range(0, vocab).Select(k => Affine.Of(notToken + k))], value);
        w.Apply(model);
        Construction = new Construction("pair-map", model, 1, 2, 1);
    }

    /// <summary>V.</summary>
    public int Vocab { get; }

    /// <summary>The model and its input shape: one virtual token, two user tokens, one generated.</summary>
    public Construction Construction { get; }

    /// <summary>The virtual tokens <c>[batch, 1, width]</c> of <paramref name="tables"/> (each: m(a, b) at [a][b]).</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<IReadOnlyList<int>>> tables)
    {
        var values = new double[tables.Count * width];
        for (int t = 0; t < tables.Count; t++)
        {
            PrefixLabException.Check(tables[t].Count == Vocab, $"the table has {tables[t].Count} rows, the vocabulary {Vocab} tokens");
            values[(t * width) + one] = 1;
            values[(t * width) + virtualFlag] = 1;
            for (int a = 0; a < Vocab; a++)
            {
                var answers = Targets.Check(tables[t][a], Vocab, Vocab, "table row");
                values[(t * width) + packed + a] = Pack(answers, Vocab);
            }
        }
        return tensor(values, dtype: ScalarType.Float64).view(tables.Count, 1, width).to_type(Construction.DType);
    }

    /// <summary>A table row as the virtual token holds it: Σ_b row[b]·V^b.</summary>
    public static double Pack(IReadOnlyList<int> row, int vocab) => row.Select((m, b) => m * Math.Pow(vocab, b)).Sum();

    /// <summary>The virtual token <c>[1, width]</c> of <paramref name="table"/>.</summary>
    public Tensor Encode(IReadOnlyList<IReadOnlyList<int>> table) => Encode([table])[0];

    /// <inheritdoc />
    public void Dispose() => Construction.Dispose();

    /// <summary>
    /// Writes the digit decoder into <paramref name="mlp"/>: <paramref name="packedRow"/> holds
    /// Σ_j d_j·V^j, <paramref name="notDigit"/>[j] is 0 for the wanted digit and 1 for the others;
    /// the wanted digit goes to residual coordinate <paramref name="output"/>.
    /// </summary>
    private static void Decode(MlpWriter mlp, int vocab, Affine packedRow, Affine[] notDigit, int output)
    {
        var r = packedRow;
        var digits = new Affine?[vocab];
        var steps = Enumerable.Range(1, vocab - 1).ToList();
        for (int j = vocab - 1; j >= 1; j--)
        {
            double power = Math.Pow(vocab, j);
            // Stage A: both ramps of each step; stage B: the steps. Everything else rides along.
            var upper = steps.Select(k => mlp.Unit(r.Plus(1 - (k * power)))).ToList();
            var lower = steps.Select(k => mlp.Unit(r.Plus(-k * power))).ToList();
            (r, digits, notDigit) = CarryOn(mlp, r, digits, notDigit);
            var step = upper.Zip(lower, (u, l) => mlp.Unit(new Affine([(u, 1), (l, -1)]))).ToList();
            (r, digits, notDigit) = CarryOn(mlp, r, digits, notDigit);
            digits[j] = Affine.Sum(step);
            r = r.Plus(Affine.Sum(step).Times(-power));
        }
        digits[0] = r;
        var kept = Enumerable.Range(0, vocab).Select(j => mlp.Unit(digits[j]!.Plus(notDigit[j].Times(-vocab)))).ToList();
        mlp.Output(output, Affine.Sum(kept));
    }

    /// <summary>Carries the remainder, the digits found and the gates into this stage's units, then starts the next stage.</summary>
    private static (Affine, Affine?[], Affine[]) CarryOn(MlpWriter mlp, Affine r, Affine?[] digits, Affine[] notDigit)
    {
        var carried = (Affine.Of(mlp.Unit(r)), digits.Select(d => d is null ? null : Affine.Of(mlp.Unit(d))).ToArray(),
            notDigit.Select(g => Affine.Of(mlp.Unit(g))).ToArray());
        mlp.Next();
        return carried;
    }
}
