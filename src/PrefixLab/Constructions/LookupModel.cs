using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// The one-layer model behind constructions 1 to 3 (paper Section 3): each generating position reads
/// one number out of one virtual token. Virtual token j holds a payload of M integers (target token
/// ids). Head A copies the payload of the virtual token the position's slot names; the index to read
/// comes from the position (unconditional generation) or, through head B, from the user token
/// (maps). The ReLU MLP keeps only the indexed number, <c>ReLU(payload_k − V·gate_k)</c> with
/// gate_k = 0 at the index and 1 elsewhere, and the unembedding picks the token c nearest to it with
/// logit 2·z·c − c² = z² − (z − c)². The paper stores y/V and compares with c/V; integers are the same
/// up to scale and keep every step exact.
/// </summary>
internal sealed class LookupModel
{
    private readonly int one;
    private readonly int slotKey;
    private readonly int slotQuery;
    private readonly int payload;
    private readonly int gate;
    private readonly int slots;
    private readonly int size;
    private readonly bool byPosition;

    /// <param name="kind">The construction's name.</param>
    /// <param name="vocab">V, the vocabulary.</param>
    /// <param name="slots">S, the virtual tokens.</param>
    /// <param name="size">M, the numbers in each virtual token.</param>
    /// <param name="byPosition">Index by the output position (one slot) rather than by one user token (slot = output number).</param>
    /// <param name="outputs">Tokens to generate.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="enforceLimits">False builds past the exact range, to measure where it breaks.</param>
    public LookupModel(string kind, int vocab, int slots, int size, bool byPosition, int outputs, ScalarType dtype, bool enforceLimits)
    {
        if (enforceLimits)
        {
            ExactLimits.CheckVocab(vocab, dtype);
        }
        this.slots = slots;
        this.size = size;
        this.byPosition = byPosition;
        var layout = Layout.Of(slots, size, byPosition);
        (one, slotKey, slotQuery, payload, gate) = (layout.One, layout.SlotKey, layout.SlotQuery, layout.Payload, layout.Gate);
        var (userFlag, copied, notToken, value, width) = (layout.UserFlag, layout.Copied, layout.NotToken, layout.Value, layout.Width);
        ExactLimits.CheckWidth(width, $"{kind} with V = {vocab}, {slots} virtual token(s) of {size} numbers");
        int inputs = byPosition ? 0 : 1;
        var model = WeightSheet.NewModel(vocab, slots + inputs + outputs, 1, 2, width, size, 1, dtype);
        var w = new WeightSheet(model);

        for (int token = 0; token < vocab; token++)
        {
            w.TokenEmbedding(token, one, 1);
            for (int k = 0; k < size && !byPosition; k++)
            {
                w.TokenEmbedding(token, notToken + k, k == token ? 0 : 1);
            }
        }
        // A generating position names its slot (and, indexed by position, its index) in its position embedding.
        for (int position = byPosition ? 1 : slots; position < model.Config.BlockSize; position++)
        {
            foreach (var (coordinate, x) in PositionFeatures(position))
            {
                w.PositionEmbedding(position, coordinate, x);
            }
        }
        if (!byPosition)
        {
            w.PositionEmbedding(slots, userFlag, 1);
        }
        // Head A: query = the slot's one-hot, key = each virtual token's slot one-hot; copies the payload.
        for (int j = 0; j < slots; j++)
        {
            w.Query(0, 0, j, slotQuery + j);
            w.Key(0, 0, j, slotKey + j);
        }
        for (int k = 0; k < size; k++)
        {
            w.Copy(0, 0, k, payload + k, copied + k);
        }
        // Head B: every position attends to the user token and copies its "not this index" code as the gate.
        if (!byPosition)
        {
            w.Query(0, 1, 0, one);
            w.Key(0, 1, 0, userFlag);
            for (int k = 0; k < size; k++)
            {
                w.Copy(0, 1, k, notToken + k, gate + k);
            }
        }
        var mlp = w.Mlp(0);
        var kept = Enumerable.Range(0, size).Select(k => mlp.Unit(new Affine([(copied + k, 1), (gate + k, -vocab)]))).ToList();
        mlp.Output(value, Affine.Sum(kept));
        for (int token = 0; token < vocab; token++)
        {
            w.Unembedding(token, value, 2.0 * token);
            w.Unembedding(token, one, -(double)token * token);
        }
        w.Apply(model);
        Construction = new Construction(kind, model, slots, inputs, outputs);
    }

    public Construction Construction { get; }

    /// <summary>The residual width the model needs, without building it.</summary>
    public static int WidthFor(int slots, int size, bool byPosition) => Layout.Of(slots, size, byPosition).Width;

    /// <summary>
    /// The virtual tokens, <c>[batch, slots, width]</c>, for payloads <c>[batch][slot][index]</c> of
    /// token ids. Indexed by position, the virtual token is also the first generating position, so it
    /// carries what a position embedding would.
    /// </summary>
    public Tensor Encode(IReadOnlyList<int[][]> payloads)
    {
        int width = Construction.Model.Config.Width;
        var values = new double[payloads.Count * slots * width];
        for (int b = 0; b < payloads.Count; b++)
        {
            for (int j = 0; j < slots; j++)
            {
                int row = ((b * slots) + j) * width;
                values[row + one] = 1;
                values[row + slotKey + j] = 1;
                for (int k = 0; k < size; k++)
                {
                    values[row + payload + k] = payloads[b][j][k];
                }
                foreach (var (coordinate, x) in byPosition ? PositionFeatures(0) : [])
                {
                    values[row + coordinate] = x;
                }
            }
        }
        return tensor(values, dtype: ScalarType.Float64).view(payloads.Count, slots, width).to_type(Construction.DType);
    }

    /// <summary>What a generating position's embedding holds: its slot's query, and, indexed by position, its gate.</summary>
    private IEnumerable<(int Coordinate, double Value)> PositionFeatures(int position)
    {
        int slot = byPosition ? 0 : position - slots;
        if (slot < slots)
        {
            yield return (slotQuery + slot, 1);
        }
        for (int k = 0; k < size && byPosition; k++)
        {
            yield return (gate + k, k == position ? 0 : 1);
        }
    }

    /// <summary>Where each quantity lives in the residual stream.</summary>
    private sealed record Layout(int One, int UserFlag, int SlotKey, int SlotQuery, int Payload, int Copied, int NotToken, int Gate, int Value, int Width)
    {
        public static Layout Of(int slots, int size, bool byPosition)
        {
            var c = new Coordinates();
            int one = c.One(), userFlag = c.One(), slotKey = c.Block(slots), slotQuery = c.Block(slots);
            int payload = c.Block(size), copied = c.Block(size), notToken = byPosition ? -1 : c.Block(size), gate = c.Block(size), value = c.One();
            return new(one, userFlag, slotKey, slotQuery, payload, copied, notToken, gate, value, c.Width(heads: 2, headDim: Math.Max(slots, size)));
        }
    }
}
