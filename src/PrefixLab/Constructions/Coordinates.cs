namespace PrefixLab.Constructions;

/// <summary>Hands out the residual-stream coordinates of a construction, one named block at a time.</summary>
internal sealed class Coordinates
{
    public int Count { get; private set; }

    /// <summary>One coordinate.</summary>
    public int One() => Block(1);

    /// <summary><paramref name="size"/> consecutive coordinates; returns the first.</summary>
    public int Block(int size)
    {
        int start = Count;
        Count += size;
        return start;
    }

    /// <summary>The smallest width of at least <see cref="Count"/> that <paramref name="heads"/> heads of at least <paramref name="headDim"/> dimensions divide.</summary>
    public int Width(int heads, int headDim)
    {
        int perHead = Math.Max(headDim, (Count + heads - 1) / heads);
        return perHead * heads;
    }
}
