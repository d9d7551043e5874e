using PrefixLab.Model;
using PrefixLab.Training;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>One trained virtual token: the vector(s) an adapter puts at position 0.</summary>
/// <param name="Source">Where it came from (the adapter path).</param>
/// <param name="Method">The adapter's method: <c>soft-prompt</c> or <c>prefix</c>.</param>
/// <param name="Vectors">
/// <c>[layers, width]</c>: row l replaces position 0 of block l's input. A soft prompt has one row (the
/// first block's input); the paper's prefix has one per block.
/// </param>
public sealed record VirtualToken(string Source, string Method, float[,] Vectors);

/// <summary>How many distinct continuations a set of rows produced.</summary>
/// <param name="Tried">Rows generated from (tokens or virtual tokens).</param>
/// <param name="Distinct">Distinct continuations among them.</param>
/// <param name="MostCommon">The continuation produced most often (the first such in row order).</param>
/// <param name="MostCommonCount">How many rows produced it.</param>
public sealed record CompletionTally(int Tried, int Distinct, int[] MostCommon, int MostCommonCount);

/// <summary>
/// Paper C1's count: the distinct greedy k-token continuations when each of the V real tokens stands
/// at position 0 in front of a prompt, against those when trained virtual tokens stand there.
/// </summary>
public static class CompletionCount
{
    /// <summary>
    /// The greedy <paramref name="length"/>-token continuation of <c>[t, prompt…]</c> for every token t
    /// of the vocabulary (row t), <paramref name="batch"/> rows per cached generation.
    /// <paramref name="progress"/> receives (rows done, rows in all) after each batch. With
    /// <paramref name="first"/> and <paramref name="end"/>, only the tokens first ≤ t &lt; end (a part of
    /// a long count that resumes where it stopped).
    /// </summary>
    public static IReadOnlyList<int[]> Real(ILanguageModel model, IReadOnlyList<int> prompt, int length, int batch = 256, Action<int, int>? progress = null, int first = 0, int? end = null)
    {
        int vocab = end ?? model.Shape.VocabSize;
        Check(model, prompt, length, batch);
        PrefixLabException.Check(first >= 0 && first <= vocab && vocab <= model.Shape.VocabSize, $"tokens {first} to {vocab} are not within the vocabulary of {model.Shape.VocabSize}");
        var result = new List<int[]>(vocab - first);
        for (int start = first; start < vocab; start += batch)
        {
            int count = Math.Min(batch, vocab - start);
            using var scope = NewDisposeScope();
            var tokens = arange(start, start + count, dtype: ScalarType.Int64).view(-1, 1);
            // A real token's row is its embedding plus position 0's: exactly the model run on [t, prompt…].
            result.AddRange(Generate(model, Rows(tokens, prompt), length));
            progress?.Invoke(start + count, vocab);
        }
        return result;
    }

    /// <summary>
    /// The greedy <paramref name="length"/>-token continuation of <c>[virtual, prompt…]</c> for each of
    /// <paramref name="tokens"/> (in their order), many at once: position 0 holds a padding token whose
    /// block inputs are replaced, per row, by the virtual token's vectors, as the adapters do it.
    /// </summary>
    public static IReadOnlyList<int[]> Virtual(ILanguageModel model, IReadOnlyList<VirtualToken> tokens, IReadOnlyList<int> prompt, int length, int batch = 256, Action<int, int>? progress = null)
    {
        Check(model, prompt, length, batch);
        int width = model.Shape.Width;
        PrefixLabException.Check(tokens.All(t => t.Vectors.GetLength(1) == width && t.Vectors.GetLength(0) is > 0 and var l && l <= model.Shape.Layers),
            $"virtual tokens must have width {width} and at most {model.Shape.Layers} layer rows");
        var result = new int[tokens.Count][];
        // Rows of one batch share their hooks, so soft prompts (one row) and prefixes (a row per block) go apart.
        var groups = Enumerable.Range(0, tokens.Count).GroupBy(i => tokens[i].Vectors.GetLength(0));
        int done = 0;
        foreach (var group in groups)
        {
            foreach (var chunk in group.Chunk(batch))
            {
                using var scope = NewDisposeScope();
                int layers = group.Key;
                var flat = chunk.SelectMany(i => tokens[i].Vectors.Cast<float>()).ToArray();
                var vectors = tensor(flat, [chunk.Length, layers, width]);
                using (Attach(model, vectors))
                {
                    var first = zeros(chunk.Length, 1, dtype: ScalarType.Int64);
                    var generated = Generate(model, Rows(first, prompt), length);
                    for (int r = 0; r < chunk.Length; r++)
                    {
                        result[chunk[r]] = generated[r];
                    }
                }
                done += chunk.Length;
                progress?.Invoke(done, tokens.Count);
            }
        }
        return result;
    }

    /// <summary>
    /// Puts virtual tokens at position 0 until the result is disposed, as the adapters do it: row r of a
    /// batch gets <paramref name="vectors"/><c>[r, l]</c> (<c>[rows, layers, width]</c>) in place of block
    /// l's input at position 0 (a soft prompt has one layer row, the paper's prefix one per block).
    /// </summary>
    public static IDisposable Attach(ILanguageModel model, Tensor vectors)
    {
        var typed = vectors.to_type(model.Module.parameters().First().dtype);
        var hooks = Enumerable.Range(0, (int)typed.shape[1])
            .Select(l => (HookPoints.ResidPre(l), (HookFunction)((activation, context) => TuningMethod.ReplaceFirstPerRow(activation, context, typed[.., l]))));
        return model.Hooks.Scope(hooks);
    }

    /// <summary>
    /// Trains one single virtual token (a soft prompt of size 1) per target so that the frozen
    /// <paramref name="model"/> continues <c>[virtual, prompt…]</c> with that target: all at once, as
    /// the rows of one <see cref="SoftPromptRows"/> parameter (row i learns target i), with Adam and the
    /// cross-entropy of the target tokens. The vectors start at <paramref name="start"/> (<c>[targets,
    /// width]</c>), or else at N(0, 1) draws from <see cref="TrainOptions.Seed"/> alone. Returns the
    /// tokens in target order, ready for <see cref="Virtual"/>.
    /// </summary>
    public static IReadOnlyList<VirtualToken> TrainVirtual(ILanguageModel model, IReadOnlyList<int[]> targets, IReadOnlyList<int> prompt, TrainOptions options, Action<TrainingProgress>? progress = null, Tensor? start = null)
    {
        PrefixLabException.Check(targets.Count >= 1, "no targets to train virtual tokens for");
        int length = targets[0].Length;
        PrefixLabException.Check(targets.All(t => t.Length == length), "every target must have the same length");
        Check(model, prompt, length, targets.Count);
        PrefixLabException.Check(targets.All(t => t.All(id => id >= 0 && id < model.Shape.VocabSize)), $"target tokens must be between 0 and {model.Shape.VocabSize - 1}");
        int width = model.Shape.Width;
        using var rows = new SoftPromptRows(model, targets.Count, new PromptSettings());
        // Not from torch's global generator, whose state depends on whatever drew from it before.
        using var generator = new Generator(options.Seed);
        using var drawn = start is null ? randn([targets.Count, width], generator: generator) : null;
        rows.LoadTensors(new Dictionary<string, Tensor> { ["prompt.rows"] = start ?? drawn! });
        // Teacher forcing: [virtual, prompt…, target without its last token]; the last `length` positions predict the target.
        using var first = zeros(targets.Count, 1, dtype: ScalarType.Int64);
        using var teacher = tensor([.. targets.SelectMany(t => t[..^1].Select(id => (long)id))], dtype: ScalarType.Int64).view(targets.Count, length - 1);
        using var inputs = cat([Rows(first, prompt), teacher], 1);
        using var labels = tensor([.. targets.SelectMany(t => t.Select(id => (long)id))], dtype: ScalarType.Int64).view(targets.Count, length);
        // TaskTraining.Loss averages over rows; times the row count, each row gets the gradient of its
        // own mean loss, as in a training of its own. Clipping the norm of the whole parameter would
        // couple the rows, so it is off; AdamW without decay is Adam, element by element.
        var job = MethodTraining.ForMethod(model, rows, _ => TaskTraining.Loss(model, inputs, labels, length) * targets.Count, "virtual-targets", 1, options, 0, "frozen");
        // The objective is a sum over the rows; progress shows the mean per target, comparable across counts.
        Trainer.Run(job, options with { GradClip = 0, BatchSize = targets.Count }, progress is null ? null : p => progress(p with { Loss = p.Loss / targets.Count }));
        using var trained = rows.Parameters[0].detach().to_type(ScalarType.Float32);
        var values = trained.data<float>().ToArray();
        return [.. Enumerable.Range(0, targets.Count).Select(i =>
        {
            var vector = new float[1, width];
            Buffer.BlockCopy(values, i * width * sizeof(float), vector, 0, width * sizeof(float));
            return new VirtualToken($"virtual token {i}", SoftPrompt.Kind.Name, vector);
        })];
    }

    /// <summary>Counts the distinct continuations among <paramref name="continuations"/>.</summary>
    public static CompletionTally Tally(IReadOnlyList<int[]> continuations)
    {
        var counts = new Dictionary<string, (int[] Ids, int Count, int First)>(StringComparer.Ordinal);
        for (int i = 0; i < continuations.Count; i++)
        {
            string key = string.Join(',', continuations[i]);
            counts[key] = counts.TryGetValue(key, out var seen) ? seen with { Count = seen.Count + 1 } : (continuations[i], 1, i);
        }
        var top = counts.Values.OrderByDescending(c => c.Count).ThenBy(c => c.First).FirstOrDefault();
        return new CompletionTally(continuations.Count, counts.Count, top.Ids ?? [], top.Count);
    }

    /// <summary>
    /// Reads single-virtual-token adapters (a soft prompt or the paper's prefix with P = 1) trained on
    /// <paramref name="model"/>; any other adapter is refused.
    /// </summary>
    public static IReadOnlyList<VirtualToken> LoadAdapters(ILanguageModel model, IEnumerable<string> paths)
    {
        // The base model's fingerprint hashes every weight: once, not once per adapter.
        string fingerprint = AdapterFile.Fingerprint(model);
        var tokens = new List<VirtualToken>();
        foreach (string path in paths)
        {
            PrefixLabException.Check(File.Exists(path), $"adapter file not found: '{path}'");
            var (method, info) = AdapterFile.Load(path, model, fingerprint);
            using (method)
            {
                bool single = method is SoftPrompt or Prefix && method.PaddingRows == 1;
                PrefixLabException.Check(single, $"'{path}' is a {info.Method} adapter{(method.PaddingRows is int p ? $" with P = {p}" : "")}; completions needs one virtual token (soft-prompt or prefix, P = 1)");
                using var vectors = method.Parameters[0].detach().to_type(ScalarType.Float32).reshape(-1, model.Shape.Width);
                var values = vectors.data<float>().ToArray();
                var grid = new float[vectors.shape[0], vectors.shape[1]];
                Buffer.BlockCopy(values, 0, grid, 0, values.Length * sizeof(float));
                tokens.Add(new VirtualToken(path, info.Method, grid));
            }
        }
        return tokens;
    }

    private static void Check(ILanguageModel model, IReadOnlyList<int> prompt, int length, int batch)
    {
        PrefixLabException.Check(length >= 1, $"the continuation length must be at least 1 (got {length})");
        PrefixLabException.Check(batch >= 1, $"the batch must be at least 1 (got {batch})");
        int vocab = model.Shape.VocabSize;
        PrefixLabException.Check(prompt.All(t => t >= 0 && t < vocab), $"prompt tokens must be between 0 and {vocab - 1}");
        // The last generated token is never read back.
        int positions = 1 + prompt.Count + length - 1;
        PrefixLabException.Check(positions <= model.Shape.Positions,
            $"1 token + {prompt.Count} prompt + {length} new tokens (--length) need {positions} positions, the model has {model.Shape.Positions}");
    }

    private static Tensor Rows(Tensor first, IReadOnlyList<int> prompt)
    {
        // view(1, -1) cannot size an empty prompt: give the count.
        var rest = tensor(prompt.Select(t => (long)t).ToArray(), dtype: ScalarType.Int64).view(1, prompt.Count).expand(first.shape[0], prompt.Count);
        return cat([first, rest], 1);
    }

    private static List<int[]> Generate(ILanguageModel model, Tensor rows, int length)
    {
        using var generated = Generation.Greedy(model, rows, length);
        var flat = generated.data<long>().ToArray();
        return [.. Enumerable.Range(0, (int)generated.shape[0]).Select(r => flat.Skip(r * length).Take(length).Select(t => (int)t).ToArray())];
    }
}
