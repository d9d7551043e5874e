using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// The number type of a model's matrix products during training. Weights, optimiser state, softmax,
/// LayerNorm and the loss stay float32 either way; analyses and evaluation always run in float32.
/// </summary>
public enum Precision
{
    /// <summary>Every product in float32.</summary>
    F32,

    /// <summary>
    /// The products of the Linear layers and of attention in bfloat16 (inputs and weights rounded to
    /// bfloat16, products accumulated by the kernel, the result handed on as float32), the rest float32.
    /// </summary>
    Bf16,
}

/// <summary>The names of <see cref="Precision"/> on the command line, in specs and in file metadata.</summary>
public static class Precisions
{
    /// <summary>Every precision by its name (<c>f32</c>, <c>bf16</c>), the default first.</summary>
    public static IReadOnlyList<(string Name, Precision Value)> All { get; } = [("f32", Precision.F32), ("bf16", Precision.Bf16)];

    /// <summary>The name of <paramref name="precision"/>: <c>f32</c> or <c>bf16</c>.</summary>
    public static string Name(this Precision precision) => All.First(p => p.Value == precision).Name;

    /// <summary>The precision named <paramref name="name"/>; another name is a one-line error naming <paramref name="where"/>.</summary>
    public static Precision Parse(string? name, string where)
    {
        foreach (var (known, value) in All)
        {
            if (known == name)
            {
                return value;
            }
        }
        throw new PrefixLabException($"{where}: precision must be f32 or bf16 (got '{name}')");
    }
}

/// <summary>
/// The product type a model's layers read at every forward pass: one object per model, shared by its
/// modules as the dropout stream is, switched for the span of a training step's forward pass
/// (<see cref="ILanguageModel.ComputeIn"/>). Autograd records the casts, so backward runs the same
/// products in the same type and hands float32 gradients to the float32 weights.
/// </summary>
public sealed class Products
{
    /// <summary>The low-precision type products run in, or null for float32 (no cast at all).</summary>
    public ScalarType? Low { get; private set; }

    /// <summary>Runs products in <paramref name="precision"/> until the result is disposed (the previous setting returns).</summary>
    public IDisposable Use(Precision precision)
    {
        var previous = Low;
        Low = precision == Precision.Bf16 ? ScalarType.BFloat16 : null;
        return new Restore(this, previous);
    }

    /// <summary><c>x·Wᵀ + b</c> of a Linear layer, in the current product type; float32 out.</summary>
    public Tensor Linear(TorchSharp.Modules.Linear layer, Tensor input) =>
        Low is null ? layer.forward(input) : Linear(input, layer.weight!, layer.bias);

    /// <summary><c>x·Wᵀ + b</c>, in the current product type; float32 out.</summary>
    public Tensor Linear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        if (Low is not ScalarType low)
        {
            return nn.functional.linear(input, weight, bias);
        }
        using var x = input.to(low);
        using var w = weight.to(low);
        // The bias is added in float32, after the product: rounding it to bfloat16 would only lose digits.
        using var product = nn.functional.linear(x, w);
        var output = product.to(ScalarType.Float32);
        return bias is null ? output : output.add_(bias);
    }

    /// <summary><c>a·b</c> (batched), in the current product type; float32 out.</summary>
    public Tensor MatMul(Tensor a, Tensor b)
    {
        if (Low is not ScalarType low)
        {
            return matmul(a, b);
        }
        using var left = a.to(low);
        using var right = b.to(low);
        using var product = matmul(left, right);
        return product.to(ScalarType.Float32);
    }

    private sealed class Restore(Products products, ScalarType? previous) : IDisposable
    {
        public void Dispose() => products.Low = previous;
    }
}
