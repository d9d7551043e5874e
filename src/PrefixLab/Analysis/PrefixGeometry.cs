using PrefixLab.Tuning;

namespace PrefixLab.Analysis;

/// <summary>How a method puts its prefix in front of the content.</summary>
public enum PrefixForm
{
    /// <summary>No prefix (no adapter, LoRA, full fine-tuning): every position is content.</summary>
    None,

    /// <summary>
    /// The prefix takes the place of the first P sequence positions (soft and hard prompts, the paper's
    /// prefix); without the adapter those rows hold padding tokens.
    /// </summary>
    Rows,

    /// <summary>P extra keys and values in front of the sequence's at every layer (prefix-kv).</summary>
    KeysValues,
}

/// <summary>
/// Where the prefix and the content sit in a run with the adapter and in the plain run, so that the
/// content parts of the two can be lined up: content queries are sequence rows
/// <see cref="FirstQuery"/> on; content keys start at key column <see cref="AdaptedContentStart"/> with
/// the adapter and <see cref="PlainContentStart"/> without it.
/// </summary>
/// <param name="Form">The prefix's form.</param>
/// <param name="Size">P, the prefix positions (0 for <see cref="PrefixForm.None"/>).</param>
/// <param name="PositionShift">
/// How far the adapter moves the sequence along the positions (the position embedding, or the rotary angles; <see cref="Model.ILanguageModel.PositionShift"/>):
/// P for a key/value prefix in Hugging Face's convention, whose content sits at positions P …. The plain
/// run takes the same shift, so that its content sits where the adapted run's does, as the padding rows a
/// row prefix replaces put the plain run's content at P too.
/// </param>
public sealed record PrefixGeometry(PrefixForm Form, int Size, int PositionShift = 0)
{
    /// <summary>No prefix.</summary>
    public static PrefixGeometry None { get; } = new(PrefixForm.None, 0);

    /// <summary>The first sequence row that is content (a query the identities speak of).</summary>
    public int FirstQuery => Form == PrefixForm.Rows ? Size : 0;

    /// <summary>The first key column of the content in the run with the adapter; the columns before it are the prefix.</summary>
    public int AdaptedContentStart => Size;

    /// <summary>The first key column of the content in the plain run (after its padding rows, if the prefix replaces them).</summary>
    public int PlainContentStart => FirstQuery;

    /// <summary>The geometry of <paramref name="method"/>'s prefix (null or a weight method: none).</summary>
    public static PrefixGeometry Of(ITuningMethod? method) => method switch
    {
        PrefixKv kv => new(PrefixForm.KeysValues, kv.Settings.PrefixSize, kv.PositionShift),
        { PaddingRows: int rows } => new(PrefixForm.Rows, rows),
        _ => None,
    };
}
