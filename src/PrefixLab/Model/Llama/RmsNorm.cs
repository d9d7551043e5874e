using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// Root-mean-square normalisation, <c>weight · x / √(mean(x²) + ε)</c>, as Hugging Face's
/// <c>LlamaRMSNorm</c>: half-precision rows are normalised in float32 and converted back before the
/// weight multiplies them, so bf16 models match Hugging Face's rounding; float32 and float64 rows are
/// normalised in their own type.
/// </summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    /// <summary>A norm over <paramref name="width"/> features with weights of <paramref name="dtype"/>, left uninitialised (<see cref="Reset"/> sets them to 1).</summary>
    public RmsNorm(long width, double eps, ScalarType dtype) : base("norm")
    {
        weight = new Parameter(empty(width, dtype));
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>Sets the weights to 1, the initial norm.</summary>
    public void Reset()
    {
        using var noGrad = no_grad();
        weight.fill_(1);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        bool half = x.dtype is ScalarType.BFloat16 or ScalarType.Float16;
        var rows = half ? x.to_type(ScalarType.Float32) : x;
        var normalised = rows * rsqrt(rows.square().mean([-1], keepdim: true).add_(eps));
        return (weight * (half ? normalised.to_type(x.dtype) : normalised)).MoveToOuterDisposeScope();
    }
}
