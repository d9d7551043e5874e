using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// Rotary position embeddings: each pair of dimensions (i, i + d/2) of a query or key at position p is
/// rotated by the angle p·f_i, so the score of a query and a key depends on their distance only. The
/// frequencies are f_i = θ^(−2i/d), stretched by the config's <see cref="RopeScaling"/>. Angles are
/// computed in float64 and rounded once to the model's type, as close to the exact rotation as that
/// type allows.
/// </summary>
internal static class Rotary
{
    /// <summary>The d/2 frequencies of heads of <paramref name="config"/>'s head width.</summary>
    public static double[] Frequencies(LlamaConfig config)
    {
        int d = config.HeadDim;
        var frequencies = new double[d / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            frequencies[i] = 1.0 / Math.Pow(config.RopeTheta, 2.0 * i / d);
        }
        switch (config.Scaling)
        {
            case { Type: "linear" } linear:
                for (int i = 0; i < frequencies.Length; i++)
                {
                    frequencies[i] /= linear.Factor;
                }
                break;
            case { Type: "llama3" } s:
                // Llama 3.1: wavelengths longer than original/low are slowed by the factor, shorter than
                // original/high are kept, and the band between blends the two by where it lies.
                double lowWavelength = s.OriginalPositions / s.LowFreqFactor, highWavelength = s.OriginalPositions / s.HighFreqFactor;
                for (int i = 0; i < frequencies.Length; i++)
                {
                    double wavelength = 2 * Math.PI / frequencies[i];
                    if (wavelength > lowWavelength)
                    {
                        frequencies[i] /= s.Factor;
                    }
                    else if (wavelength >= highWavelength)
                    {
                        double smooth = (s.OriginalPositions / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                        frequencies[i] = (1 - smooth) * frequencies[i] / s.Factor + smooth * frequencies[i];
                    }
                }
                break;
        }
        return frequencies;
    }

    /// <summary>
    /// The cosines and sines <c>[count, d]</c> (each frequency twice, for both halves of a head) of
    /// positions <paramref name="start"/> … start + count − 1, in <paramref name="dtype"/>.
    /// </summary>
    public static Rotation Angles(double[] frequencies, long start, long count, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var positions = arange(start, start + count, dtype: ScalarType.Float64);
        var half = outer(positions, tensor(frequencies, ScalarType.Float64));
        var angles = cat([half, half], 1);
        return new Rotation(angles.cos().to_type(dtype).MoveToOuterDisposeScope(), angles.sin().to_type(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Rotates heads <paramref name="x"/> <c>[batch, head, position, d]</c> by <paramref name="cos"/> and
    /// <paramref name="sin"/> <c>[position, d]</c>: <c>x·cos + rotate_half(x)·sin</c>, where
    /// rotate_half maps the halves (a, b) to (−b, a), Hugging Face's layout of the pairs.
    /// </summary>
    public static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return (x * cos).add_(rotated.mul_(sin)).MoveToOuterDisposeScope();
    }
}

/// <summary>The cosines and sines <c>[position, d]</c> that rotate the heads of a run's positions.</summary>
/// <param name="Cos">Cosines, each frequency twice.</param>
/// <param name="Sin">Sines, each frequency twice.</param>
internal readonly record struct Rotation(Tensor Cos, Tensor Sin);
