namespace PrefixLab.Model;

/// <summary>
/// What tuning methods need to know about a model family besides its shape: the module and hook names
/// their defaults and their PEFT layouts refer to. A model exposes its family
/// (<see cref="ILanguageModel.Family"/>); methods consult it instead of naming one family's layers.
/// </summary>
/// <param name="Name">The family's name (<c>gpt</c>, <c>llama</c>), for messages.</param>
/// <param name="Blocks">Module path of the block list (<c>transformer.h</c>); block L's modules are under <c>{Blocks}.L.</c>.</param>
/// <param name="Body">
/// The module under the LM head (<c>transformer</c>, <c>model</c>): PEFT adapters made on the headless
/// model name modules relative to it.
/// </param>
/// <param name="LoraTargets">LoRA's default targets, matched as parts of Linear layers' names.</param>
/// <param name="Ia3">IA³'s vectors in each block, in PEFT's order.</param>
/// <param name="PrefixKeys">The hook point in each block (relative to <c>blocks.L.</c>) whose keys a key/value prefix extends: the keys as attention reads them (after rotary embeddings, for a family that has them).</param>
/// <param name="PrefixValues">The same for the values.</param>
/// <param name="Queries">
/// The hook point in each block (relative to <c>blocks.L.</c>) of the queries as attention multiplies
/// them with <paramref name="PrefixKeys"/> (after rotary embeddings, for a family that has them): what
/// the analyses recompute attention scores from.
/// </param>
/// <param name="FanInFanOut">
/// Whether Hugging Face stores the family's Linear layers as Conv1D (<c>[in, out]</c>: GPT-2), which
/// PEFT's configs say with <c>fan_in_fan_out</c>.
/// </param>
public sealed record ModelFamily(
    string Name,
    string Blocks,
    string Body,
    IReadOnlyList<string> LoraTargets,
    IReadOnlyList<Ia3Target> Ia3,
    string PrefixKeys,
    string PrefixValues,
    string Queries,
    bool FanInFanOut)
{
    /// <summary>Module path prefix of block <paramref name="layer"/>'s modules, with the trailing dot.</summary>
    public string Block(int layer) => $"{Blocks}.{layer}.";

    /// <summary>The full name of hook point <paramref name="point"/> (relative to a block) in block <paramref name="layer"/>.</summary>
    public static string Hook(int layer, string point) => $"blocks.{layer}.{point}";
}

/// <summary>
/// One IA³ vector per block, as PEFT's <c>IA3</c> places it: on the output of <paramref name="Module"/>,
/// or on its input when it is a feedforward module.
/// </summary>
/// <param name="Module">The scaled Linear layer, relative to its block (<c>attn.c_attn</c>).</param>
/// <param name="PeftName">Its entry in PEFT's <c>target_modules</c> (<c>c_attn</c>, <c>mlp.c_proj</c>).</param>
/// <param name="FeedForward">Whether the vector scales the layer's input (PEFT's <c>feedforward_modules</c>, shape <c>[1, in]</c>) rather than its output (<c>[out, 1]</c>).</param>
/// <param name="Parts">Where consecutive slices of the vector act, in order; their lengths add up to the vector's.</param>
public sealed record Ia3Target(string Module, string PeftName, bool FeedForward, IReadOnlyList<Ia3Part> Parts)
{
    /// <summary>The vector's length.</summary>
    public long Length => Parts.Sum(p => p.Length);
}

/// <summary>A slice of an IA³ vector and the hook point (relative to <c>blocks.L.</c>) whose activation it multiplies.</summary>
/// <param name="Hook">The hook point, relative to its block (<c>attn.hook_q</c>).</param>
/// <param name="Length">The slice's length.</param>
/// <param name="Heads">
/// 0 when the activation's last axis is the slice (<c>[…, length]</c>); else the activation is
/// <c>[batch, heads, position, length / heads]</c> and the slice is read per head.
/// </param>
public sealed record Ia3Part(string Hook, long Length, int Heads = 0);
