using System.Runtime.InteropServices;
using PrefixLab.Model;
using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Model;

public class DropoutMaskTests
{
    private const int Chunk = 1 << 16;

    /// <summary>Each chunk drawn on its own from its stream: what a mask is defined to be.</summary>
    private static float[] ChunkByChunk(int length, ulong seed, double keep, float value)
    {
        var mask = new float[length];
        for (int start = 0, chunk = 0; start < length; start += Chunk, chunk++)
        {
            Rng.For(seed, (ulong)chunk).FillBernoulli(mask.AsSpan(start, Math.Min(Chunk, length - start)), keep, value);
        }
        return mask;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Chunk + 1)]
    [InlineData((2 * Chunk) + 3)]
    [InlineData(4 * Chunk)]
    [InlineData((7 * Chunk) + 1)]
    [InlineData(64 * 29 * 256)]
    public void Four_chunks_at_once_draw_exactly_the_chunk_by_chunk_mask(int length)
    {
        var lanes = new float[length];
        for (int first = 0; first * Chunk < length; first += BernoulliChunks.Lanes)
        {
            BernoulliChunks.Fill(lanes, 77, Chunk, first, 0.9, 1.25f);
        }
        Assert.Equal(ChunkByChunk(length, 77, 0.9, 1.25f), lanes);
    }

    [Fact]
    public void Dropout_masks_are_the_chunk_by_chunk_draws_of_the_streams_seeds()
    {
        // Training runs are reproducible from their seed only while this holds: a faster way of drawing
        // the masks must not change a single one.
        var stream = new DropoutStream(42);
        using var dropout = new MaskDropout(0.1, stream);
        dropout.train();
        using var x = ones(64, 29, 256);
        using var mask = dropout.forward(x);
        var expected = ChunkByChunk((int)mask.numel(), Rng.Mix(42, 1), 0.9, (float)(1 / 0.9));
        Assert.Equal(expected, MemoryMarshal.Cast<byte, float>(mask.bytes).ToArray());
    }
}
