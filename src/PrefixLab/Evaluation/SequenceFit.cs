using PrefixLab.Model;
using PrefixLab.Tasks;

namespace PrefixLab.Evaluation;

/// <summary>
/// Whether a task's sequences fit a model: its tokens inside the vocabulary, its positions inside the
/// block size (less any key/value prefix). Training and evaluation both check it before their first batch.
/// </summary>
public static class SequenceFit
{
    /// <summary>Throws when <paramref name="task"/> laid out as <paramref name="layout"/> does not fit the model.</summary>
    public static void Check(ILanguageModel model, ITask task, SequenceLayout layout)
    {
        if (task.MaxToken >= model.Shape.VocabSize)
        {
            throw new PrefixLabException($"task '{task.Name}' produces token {task.MaxToken}, beyond the model's vocabulary of {model.Shape.VocabSize}");
        }
        if (layout.ContextLength > model.SequenceCapacity)
        {
            string prefix = model.PositionShift > 0 ? $" after a {model.PositionShift}-position key/value prefix" : "";
            throw new PrefixLabException($"task '{task.Name}' with prefix size {layout.PrefixSize} needs {layout.ContextLength} positions{prefix}, the model has {model.Shape.Positions}");
        }
    }

    /// <summary>Throws when a sequence of <paramref name="samples"/> does not fit the model.</summary>
    public static void Check(ILanguageModel model, TextSamples samples)
    {
        int longest = samples.LongestContext + 1;
        PrefixLabException.Check(longest <= model.SequenceCapacity,
            $"text task '{samples.Task.Name}' has a sequence of {longest} tokens (with {samples.PaddingRows} padding{(model.PositionShift > 0 ? $", after {model.PositionShift} prefix positions" : "")}), the model has {model.Shape.Positions} positions");
        int maxId = samples.All.SelectMany(s => s.Prompt.Concat(s.Answer)).Max();
        PrefixLabException.Check(maxId < model.Shape.VocabSize, $"text task '{samples.Task.Name}' has token {maxId}, beyond the model's vocabulary of {model.Shape.VocabSize}");
    }
}
