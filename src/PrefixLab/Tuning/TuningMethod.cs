using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// What the methods share: the model, the hooks to remove on dispose, and a frozen base (every base
/// parameter stops requiring gradients while a method that does not train the base is attached, so
/// backward computes no weight gradients for it; the flags are restored on dispose).
/// </summary>
public abstract class TuningMethod : ITuningMethod
{
    private readonly List<IDisposable> hooks = [];
    // By name, not by reference: converting the model (Module.to, e.g. to float64) replaces its parameters.
    private readonly List<(string Name, bool RequiresGrad)> frozen = [];

    /// <summary>Attaches to <paramref name="model"/>; freezes it unless the method trains the base.</summary>
    protected TuningMethod(ILanguageModel model, TuningSettings settings, bool trainsBase)
    {
        Model = model;
        Settings = settings;
        TrainsBase = trainsBase;
        if (!trainsBase)
        {
            foreach (var (name, parameter) in model.Module.named_parameters())
            {
                frozen.Add((name, parameter.requires_grad));
                parameter.requires_grad = false;
            }
        }
    }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public TuningSettings Settings { get; }

    /// <inheritdoc />
    public abstract IReadOnlyList<Parameter> Parameters { get; }

    /// <inheritdoc />
    public bool TrainsBase { get; }

    /// <inheritdoc />
    public virtual int? PaddingRows => null;

    /// <inheritdoc />
    public virtual int PositionShift => 0;

    /// <inheritdoc />
    public abstract double DefaultLearningRate { get; }

    /// <inheritdoc />
    public virtual double DefaultWeightDecay => 0.01; // PyTorch's AdamW default, which the companion code kept

    /// <inheritdoc />
    public virtual IReadOnlyList<Training.ParameterGroup> Groups(double weightDecay) => [new(Parameters, weightDecay)];

    /// <summary>The adapted model.</summary>
    protected ILanguageModel Model { get; }

    /// <inheritdoc />
    public abstract IReadOnlyDictionary<string, Tensor> SaveTensors();

    /// <inheritdoc />
    public virtual void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        using var noGrad = no_grad();
        foreach (var (name, target) in SaveTensors())
        {
            if (!tensors.TryGetValue(name, out var source))
            {
                throw new PrefixLabException($"{Name} adapter lacks tensor '{name}'");
            }
            if (!source.shape.SequenceEqual(target.shape))
            {
                throw new PrefixLabException($"{Name} adapter tensor '{name}' has shape [{string.Join(", ", source.shape)}], expected [{string.Join(", ", target.shape)}]");
            }
            target.copy_(source);
        }
    }

    /// <inheritdoc />
    public virtual void BeforeConversion()
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var hook in hooks)
        {
            hook.Dispose();
        }
        hooks.Clear();
        var parameters = Model.Module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        foreach (var (name, requiresGrad) in frozen)
        {
            parameters[name].requires_grad = requiresGrad;
        }
        frozen.Clear();
        OnDispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Adds a hook at a named point; it is removed on dispose.</summary>
    protected void Hook(string name, HookFunction function) => hooks.Add(Model.Hooks.Add(name, function));

    /// <summary>Keeps a removal handle to run on dispose.</summary>
    protected void Track(IDisposable handle) => hooks.Add(handle);

    /// <summary>Releases what the method holds beyond its hooks.</summary>
    protected virtual void OnDispose()
    {
    }

    /// <summary>
    /// Replaces the rows of <paramref name="activation"/> (<c>[batch, position, width]</c>, starting at
    /// absolute position <paramref name="context"/>.Position) that fall in the first P positions by
    /// <paramref name="rows"/> (<c>[P, width]</c>). Rows past P are left alone, so during cached
    /// generation only the first step changes.
    /// </summary>
    protected static Tensor ReplacePrefixRows(Tensor activation, HookContext context, Tensor rows)
    {
        long prefix = rows.shape[0];
        long start = context.Position;
        long length = activation.shape[1];
        if (start >= prefix)
        {
            return activation;
        }
        long count = Math.Min(prefix - start, length);
        var replacement = rows[TensorIndex.Slice(start, start + count)].unsqueeze(0).expand(activation.shape[0], count, rows.shape[1]);
        if (count == length)
        {
            return replacement.to_type(activation.dtype);
        }
        return cat([replacement.to_type(activation.dtype), activation[TensorIndex.Colon, TensorIndex.Slice(count)]], 1);
    }

    /// <summary>
    /// Replaces position 0 of each batch row of <paramref name="activation"/> by that row's vector
    /// (<paramref name="vectors"/>, <c>[batch, width]</c>): one virtual token per row, where
    /// <see cref="ReplacePrefixRows"/> puts the same rows in front of every batch row. Later cached steps
    /// start past position 0 and are left alone.
    /// </summary>
    internal static Tensor ReplaceFirstPerRow(Tensor activation, HookContext context, Tensor vectors)
    {
        if (context.Position > 0)
        {
            return activation;
        }
        var first = vectors.to_type(activation.dtype).unsqueeze(1);
        return activation.shape[1] == 1 ? first : cat([first, activation[.., 1..]], 1);
    }

    /// <summary>
    /// A trainable tensor drawn from N(0, std²) by <paramref name="generator"/> (seed 0 when null), float32
    /// unless <paramref name="dtype"/> says otherwise.
    /// </summary>
    protected static Parameter NormalParameter(long[] shape, double std, Generator? generator, ScalarType dtype = ScalarType.Float32)
    {
        using var own = generator is null ? new Generator(0) : null;
        return new(randn(shape, dtype: dtype, generator: generator ?? own).mul_(std), requires_grad: true);
    }

    /// <summary>
    /// Fills <paramref name="tensor"/> (<c>[out, in]</c>) as PyTorch's <c>kaiming_uniform_(a)</c> does, but
    /// from <paramref name="generator"/>: U(−bound, bound) with bound = √3 · gain / √in and
    /// gain = √(2 / (1 + a²)), computed in libtorch's order so the draws match its to the bit.
    /// (TorchSharp's <c>init.kaiming_uniform_</c> and <c>init.uniform_</c> take no generator, or ignore it.)
    /// </summary>
    internal static void KaimingUniform(Tensor tensor, double a, Generator generator)
    {
        double gain = Math.Sqrt(2.0 / (1 + Math.Pow(a, 2)));
        double std = gain / Math.Sqrt(tensor.shape[1]);
        double bound = Math.Sqrt(3.0) * std;
        using var noGrad = no_grad();
        tensor.uniform_(-bound, bound, generator);
    }
}

/// <summary>A <see cref="TuningMethod"/> whose settings are <typeparamref name="TSettings"/>, the method's own record.</summary>
/// <typeparam name="TSettings">The method's settings.</typeparam>
/// <param name="model">The model to attach to.</param>
/// <param name="settings">The method's settings.</param>
/// <param name="trainsBase">Whether the base model trains too.</param>
public abstract class TuningMethod<TSettings>(ILanguageModel model, TSettings settings, bool trainsBase) : TuningMethod(model, settings, trainsBase)
    where TSettings : TuningSettings
{
    /// <summary>The settings it was created with, as the method's own record.</summary>
    public new TSettings Settings { get; } = settings;
}
