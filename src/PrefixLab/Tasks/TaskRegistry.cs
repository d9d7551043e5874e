namespace PrefixLab.Tasks;

/// <summary>Finds tasks by name. <see cref="Default"/> holds the paper's tasks; add your own with <see cref="Register"/>.</summary>
public sealed class TaskRegistry
{
    private readonly Dictionary<string, ITask> tasks = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> aliases = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The registry with the paper's tasks (ascending, descending, plus1, plus2, ascending-plus1,
    /// histogram, random) and the byte language of claim C1's count (topic-bytes).
    /// </summary>
    public static TaskRegistry Default { get; } = CreateDefault();

    /// <summary>Registered task names, in registration order.</summary>
    public IReadOnlyList<string> Names => [.. tasks.Keys];

    /// <summary>Adds <paramref name="task"/>, also reachable by <paramref name="otherNames"/>.</summary>
    public TaskRegistry Register(ITask task, params string[] otherNames)
    {
        if (!tasks.TryAdd(task.Name, task))
        {
            throw new PrefixLabException($"a task named '{task.Name}' is already registered");
        }
        foreach (var alias in otherNames)
        {
            aliases[alias] = task.Name;
        }
        return this;
    }

    /// <summary>
    /// The vocabulary every task without one of its own shares: its largest token + 1 (the digit tasks:
    /// digits and the histogram's counts), so that one model can be tuned on any of them.
    /// </summary>
    public int SharedVocabulary => tasks.Values.Where(t => t is not IOwnVocabulary).Max(t => t.MaxToken) + 1;

    /// <summary>The vocabulary of a model for <paramref name="task"/>: its own (<see cref="IOwnVocabulary"/>) or the shared one.</summary>
    public int VocabularyOf(ITask task) => task is IOwnVocabulary own ? own.VocabSize : SharedVocabulary;

    /// <summary>The task called <paramref name="name"/> (or one of its aliases).</summary>
    public ITask Get(string name)
    {
        if (tasks.TryGetValue(name, out var task) || (aliases.TryGetValue(name, out var real) && tasks.TryGetValue(real, out task)))
        {
            return task;
        }
        throw new PrefixLabException($"unknown task '{name}' (known: {string.Join(", ", tasks.Keys)})");
    }

    private static TaskRegistry CreateDefault()
    {
        var ascending = new AscendingTask();
        var descending = new DescendingTask();
        var plus1 = new AddTask(1);
        var plus2 = new AddTask(2);
        return new TaskRegistry()
            .Register(ascending, "sort", "asc", "↑")
            .Register(descending, "desc", "↓")
            .Register(plus1, "+1", "add1")
            .Register(plus2, "+2", "add2")
            .Register(new AscendingPlusOneTask(), "↑+1", "asc+1")
            .Register(new HistogramTask(), "hist", "H")
            .Register(new MixtureTask("random", [ascending, descending, plus1, plus2]), "mix")
            .Register(new TopicBytesTask(), "bytes");
    }
}
