using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tuning;

namespace PrefixLab.Workflows;

/// <summary>What to score: a model, with or without an adapter, on one or more tasks.</summary>
/// <param name="Model">A PrefixLab model file or a Hugging Face GPT-2 folder.</param>
/// <param name="Tasks">The tasks to score it on.</param>
public sealed record EvaluateRequest(string Model, IReadOnlyList<TaskData> Tasks)
{
    /// <summary>An adapter trained on the model (prefix, prompt, LoRA), a PEFT folder, or a fully fine-tuned model.</summary>
    public string? Adapter { get; init; }

    /// <summary>How the files are read (non-finite values, size limits).</summary>
    public LoadOptions? Load { get; init; }

    /// <summary>Samples per task (null: 3,200 digit samples or the whole text split).</summary>
    public int? Samples { get; init; }

    /// <summary>Which test samples (digit tasks).</summary>
    public ulong Seed { get; init; }

    /// <summary>Samples decoded at once.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>The split scored.</summary>
    public DataSplit Split { get; init; } = DataSplit.Test;

    /// <summary>Padding positions in front of each input (null: the adapter's, else the model's).</summary>
    public int? PrefixSize { get; init; }
}

/// <summary>
/// Greedy exact-match evaluation, written once for <c>prefixlab eval</c>, the reproduction's scores and
/// library users: the model with its adapter applied, scored on each task at the prefix size the adapter
/// was trained with.
/// </summary>
public static class EvaluateWorkflow
{
    /// <summary>Loads the model and adapter of <paramref name="request"/> and scores them; <paramref name="progress"/> hears each task as it starts.</summary>
    public static IReadOnlyList<EvalResult> Run(EvaluateRequest request, Action<string>? progress = null)
    {
        using var loaded = AdaptedModel.Load(request.Model, request.Adapter, request.Load);
        return Score(loaded, request, progress);
    }

    /// <summary>Scores <paramref name="loaded"/> (already loaded, e.g. to check options against it first) on the tasks of <paramref name="request"/>.</summary>
    public static IReadOnlyList<EvalResult> Score(AdaptedModel loaded, EvaluateRequest request, Action<string>? progress = null)
    {
        int padding = request.PrefixSize ?? loaded.PrefixSize;
        return [.. request.Tasks.Select(task =>
        {
            progress?.Invoke(task.Name);
            return task.Evaluate(loaded.Model, padding, request.Samples, request.Seed, request.BatchSize, request.Split);
        })];
    }
}
