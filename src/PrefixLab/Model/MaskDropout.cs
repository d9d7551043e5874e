using System.Runtime.InteropServices;
using PrefixLab.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// Inverted dropout: in training, each element is kept with probability 1 − p and scaled by 1/(1 − p),
/// as <c>torch.nn.Dropout</c> does. The keep mask is drawn on the CPU by <see cref="Rng"/> instead of
/// libtorch's generator, which needs about 7 ns per element here and made dropout a sixth of a
/// training step. Its seed is one draw from torch's generator, so <c>torch.manual_seed</c> still
/// fixes every mask.
/// </summary>
public sealed class MaskDropout : nn.Module<Tensor, Tensor>
{
    private const int ChunkSize = 1 << 16;
    private readonly double p;

    /// <summary>Creates the layer with drop probability <paramref name="probability"/>.</summary>
    public MaskDropout(double probability) : base("dropout")
    {
        if (probability is < 0 or >= 1)
        {
            throw new PrefixLabException($"dropout must be in [0, 1) (got {probability})");
        }
        p = probability;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (!training || p == 0)
        {
            return input;
        }
        using var seedTensor = randint(long.MaxValue, [1], dtype: ScalarType.Int64);
        ulong seed = (ulong)seedTensor.item<long>();
        // Drawn straight into the mask tensor's memory (a managed array and a copy cost as much again),
        // in fixed chunks with a stream each, so the mask does not depend on the number of threads.
        var mask = empty(input.shape, ScalarType.Float32);
        long count = mask.numel();
        int chunks = (int)((count + ChunkSize - 1) / ChunkSize);
        float scale = (float)(1.0 / (1.0 - p));
        Parallel.For(0, chunks, chunk =>
        {
            long start = chunk * (long)ChunkSize;
            var span = MemoryMarshal.Cast<byte, float>(mask.bytes).Slice((int)start, (int)Math.Min(ChunkSize, count - start));
            Rng.For(seed, (ulong)chunk).FillBernoulli(span, 1 - p, scale);
        });
        return input * (input.dtype == ScalarType.Float32 ? mask : mask.to_type(input.dtype));
    }
}
