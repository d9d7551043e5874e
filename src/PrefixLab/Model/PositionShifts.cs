using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// A model's position shift (<see cref="ILanguageModel.PositionShift"/>): shifts that add up while they
/// are held, and the checks of a forward pass's rows against the positions left, which every family
/// makes the same way.
/// </summary>
/// <param name="positions">The model's positions (block size, context length).</param>
/// <param name="limit">How messages name the limit, e.g. <c>block size 64</c>.</param>
internal sealed class PositionShifts(int positions, string limit)
{
    /// <summary>The position of sequence row 0.</summary>
    public int Current { get; private set; }

    /// <summary>How many sequence rows fit.</summary>
    public int Capacity => positions - Current;

    /// <summary>Shifts the rows <paramref name="count"/> further until the result is disposed (a second dispose does nothing).</summary>
    public IDisposable Add(int count)
    {
        PrefixLabException.Check(count >= 0 && Current + count < positions,
            $"a position shift of {count} leaves no room in the model's {positions} positions (already shifted by {Current})");
        Current += count;
        return new Held(this, count);
    }

    /// <summary>
    /// Refuses <paramref name="tokens"/> unless they are <c>[batch, position]</c> rows that fit after
    /// <paramref name="cached"/> cached positions, and <paramref name="lastRows"/> unless it is null or
    /// between 1 and their length.
    /// </summary>
    public void CheckRun(Tensor tokens, int cached, int? lastRows)
    {
        if (tokens.dim() != 2)
        {
            throw new PrefixLabException($"tokens must be [batch, position], got shape [{string.Join(", ", tokens.shape)}]");
        }
        long length = tokens.shape[1];
        if (cached + length > Capacity)
        {
            string after = Current > 0 ? $" after {Current} prefix positions" : "";
            throw new PrefixLabException($"sequence of {cached + length} positions{after} exceeds the model's {limit}");
        }
        if (lastRows is < 1 || lastRows > length)
        {
            throw new PrefixLabException($"lastRows must be between 1 and {length} (got {lastRows})");
        }
    }

    private sealed class Held(PositionShifts shifts, int count) : IDisposable
    {
        private bool done;

        public void Dispose()
        {
            if (!done)
            {
                shifts.Current -= count;
                done = true;
            }
        }
    }
}
