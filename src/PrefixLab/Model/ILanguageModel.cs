using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// The sizes that callers of a model family need, whatever its blocks look like.
/// </summary>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Query heads per block.</param>
/// <param name="KeyValueHeads">Key and value heads per block: <paramref name="Heads"/> for multi-head attention, fewer for grouped-query attention.</param>
/// <param name="HeadDim">Dimensions per head.</param>
/// <param name="Width">Width of the residual stream.</param>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="Positions">Longest sequence the model takes (block size, context length).</param>
/// <param name="MlpWidth">Inner width of each block's MLP.</param>
public sealed record ModelShape(int Layers, int Heads, int KeyValueHeads, int HeadDim, int Width, int VocabSize, int Positions, int MlpWidth);

/// <summary>
/// A family's configuration record (<see cref="GptConfig"/> for GPT), as model files and run
/// fingerprints record it: what builds a model of the family, whatever its fields.
/// </summary>
public interface IModelConfig
{
    /// <summary>The sizes callers need.</summary>
    ModelShape Shape { get; }

    /// <summary>A fresh model of this configuration, its weights and first dropout masks drawn from <paramref name="seed"/>.</summary>
    ILanguageModel Create(long seed);
}

/// <summary>
/// The seam between a model family and everything that uses a model: analyses, the trainer, the
/// evaluators and generation. A family (GPT: the paper's minGPT and Hugging Face GPT-2) implements it
/// in a folder of its own; callers see only this.
/// </summary>
public interface ILanguageModel : IDisposable
{
    /// <summary>The model as a TorchSharp module: parameters, state dict, train/eval, conversion to another dtype.</summary>
    Module Module { get; }

    /// <summary>The family's configuration record (<see cref="GptConfig"/> for GPT), as run fingerprints record it.</summary>
    IModelConfig Config { get; }

    /// <summary>The sizes callers need.</summary>
    ModelShape Shape { get; }

    /// <summary>The names methods need: default targets, where a key/value prefix attaches, PEFT's module paths.</summary>
    ModelFamily Family { get; }

    /// <summary>Named points of the forward pass where hooks read or replace activations.</summary>
    HookPoints Hooks { get; }

    /// <summary>Where the dropout masks come from; the trainer reseeds it every step.</summary>
    DropoutStream Dropout { get; }

    /// <summary>
    /// Runs the matrix products of the forward passes in <paramref name="precision"/> until the result is
    /// disposed (the training loop holds it over a step's forward pass; backward follows the recorded types).
    /// </summary>
    IDisposable ComputeIn(Precision precision);

    /// <summary>
    /// The position of sequence row 0: 0 unless something occupies positions in front of the sequence
    /// without being rows of it (a key/value prefix). Hooks still see sequence rows.
    /// </summary>
    int PositionShift { get; }

    /// <summary>How many sequence rows fit: <see cref="ModelShape.Positions"/> less <see cref="PositionShift"/>.</summary>
    int SequenceCapacity { get; }

    /// <summary>Moves the sequence <paramref name="positions"/> further along until the result is disposed (shifts add up).</summary>
    IDisposable ShiftPositions(int positions);

    /// <summary>
    /// Logits <c>[batch, position, vocab]</c> for token ids <c>[batch, position]</c>. With a
    /// <paramref name="cache"/>, the tokens continue the cached positions, and the cache grows by them.
    /// </summary>
    Tensor Forward(Tensor tokens, KvCache? cache = null);

    /// <summary>
    /// The final residual stream <c>[batch, position, width]</c>, before the final norm; with
    /// <paramref name="lastRows"/>, only that many final positions (the values are the same).
    /// </summary>
    Tensor Hidden(Tensor tokens, KvCache? cache = null, int? lastRows = null);

    /// <summary>Logits from final residual rows (any leading shape): the final norm, then the LM head.</summary>
    Tensor Head(Tensor hidden);

    /// <summary>What the first block receives for <paramref name="tokens"/> starting at embedding position <paramref name="position"/>, without hooks.</summary>
    Tensor Embed(Tensor tokens, int position = 0);

    /// <summary>The token embedding, <c>[vocabulary, width]</c>.</summary>
    Tensor TokenEmbedding { get; }

    /// <summary>
    /// The learned position embedding, <c>[positions, width]</c>, whose row i is added to the token at
    /// position i; null for a family that encodes positions inside attention (rotary embeddings).
    /// </summary>
    Tensor? PositionEmbedding { get; }

    /// <summary>The AdamW groups: parameters that get weight decay, and those that do not.</summary>
    (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) ParameterGroups();
}
