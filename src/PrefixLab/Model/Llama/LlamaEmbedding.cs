using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// The token embedding, <c>weight</c> <c>[vocabulary, width]</c>, allocated in the model's type and not
/// initialised (TorchSharp's <c>Embedding</c> draws N(0, 1) for every row first).
/// </summary>
internal sealed class LlamaEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>An embedding of <paramref name="vocabulary"/> rows of <paramref name="width"/> in <paramref name="dtype"/>.</summary>
    public LlamaEmbedding(long vocabulary, long width, ScalarType dtype) : base("embed_tokens")
    {
        weight = new Parameter(empty(vocabulary, width, dtype));
        RegisterComponents();
    }

    /// <summary>The embedding matrix.</summary>
    public Parameter Weight => weight;

    /// <summary>The rows of token ids <paramref name="tokens"/> (any shape), shape <c>[…, width]</c>.</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var flat = tokens.reshape(-1);
        using var rows = weight.index_select(0, flat);
        return rows.view([.. tokens.shape, weight.shape[1]]);
    }
}
