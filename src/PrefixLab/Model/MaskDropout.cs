using System.Runtime.InteropServices;
using PrefixLab.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// The source of a model's dropout masks: a seed and a counter, so each mask is a fixed function of the
/// seed and the order of the dropout calls. The trainer reseeds it at every step from the run's seed and
/// the step number; nothing else (no other thread, no global generator) can change the masks.
/// </summary>
public sealed class DropoutStream
{
    private ulong seed;
    private ulong counter;

    /// <summary>Starts the stream at <paramref name="initialSeed"/>.</summary>
    public DropoutStream(ulong initialSeed) => seed = initialSeed;

    /// <summary>Restarts the stream from <paramref name="newSeed"/>.</summary>
    public void Reseed(ulong newSeed)
    {
        seed = newSeed;
        counter = 0;
    }

    /// <summary>The seed of the next mask.</summary>
    public ulong Next() => Rng.Mix(seed, Interlocked.Increment(ref counter));
}

/// <summary>
/// Inverted dropout: in training, each element is kept with probability 1 − p and scaled by 1/(1 − p),
/// as <c>torch.nn.Dropout</c> does. The keep mask is drawn on the CPU by <see cref="Rng"/> from the
/// model's <see cref="DropoutStream"/> instead of libtorch's generator, which needs about 7 ns per
/// element here and made dropout a sixth of a training step.
/// </summary>
public sealed class MaskDropout : nn.Module<Tensor, Tensor>
{
    private const int ChunkSize = 1 << 16;
    private readonly double p;
    private readonly DropoutStream stream;

    /// <summary>Creates the layer with drop probability <paramref name="probability"/>, drawing masks from <paramref name="stream"/>.</summary>
    public MaskDropout(double probability, DropoutStream stream) : base("dropout")
    {
        PrefixLabException.Check(probability is >= 0 and < 1, $"dropout must be in [0, 1) (got {probability})");
        p = probability;
        this.stream = stream;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (!training || p == 0)
        {
            return input;
        }
        ulong seed = stream.Next();
        // Drawn straight into the mask tensor's memory (a managed array and a copy cost as much again),
        // in fixed chunks with a stream each (so the mask would not change if the chunks were spread over
        // threads). It is drawn on this thread: a 64×29×256 mask takes about 0.3 ms, and waking .NET's pool
        // threads for it measurably slowed the training step by competing with libtorch's OpenMP threads.
        var mask = empty(input.shape, ScalarType.Float32);
        var target = MemoryMarshal.Cast<byte, float>(mask.bytes);
        float scale = (float)(1.0 / (1.0 - p));
        for (int chunk = 0; (long)chunk * ChunkSize < target.Length; chunk += BernoulliChunks.Lanes)
        {
            BernoulliChunks.Fill(target, seed, ChunkSize, chunk, 1 - p, scale);
        }
        return input * (input.dtype == ScalarType.Float32 ? mask : mask.to_type(input.dtype));
    }
}
