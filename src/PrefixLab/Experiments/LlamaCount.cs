using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Model;
using PrefixLab.Util;

namespace PrefixLab.Experiments;

/// <summary>
/// The <c>llama-completions</c> count (paper C1 on LLaMA-7B): the greedy continuations of all V single
/// real tokens, then of the trained single virtual tokens, chunk by chunk. A count over 32,000 tokens
/// takes hours on a CPU, so every finished batch of real tokens and every finished chunk of virtual
/// tokens goes into a partial-result file (written atomically); a run started again after a kill reads
/// it and goes on from there, and gives the same continuations as a run never stopped (batches and
/// chunks fall at the same rows, and each chunk's training is drawn from its own seed).
/// </summary>
internal sealed class LlamaCount(ILanguageModel model, LlamaSetup setup, RunContext context, string partialPath)
{
    /// <summary>What the partial-result file holds: the continuations so far, in row order.</summary>
    private sealed record Partial(List<int[]> Real, List<int[]> Virtual);

    /// <summary>Counts (or finishes counting) and returns the metrics; the partial file is deleted at the end.</summary>
    public SeedResult Run()
    {
        int vocab = model.Shape.VocabSize, length = setup.Continuation;
        var prompt = setup.Prompt ?? [];
        int count = setup.VirtualTokens.For(context.Profile);
        var partial = Read();

        var clock = Stopwatch.StartNew();
        int resumed = partial.Real.Count;
        for (int start = partial.Real.Count; start < vocab; start += setup.Batch)
        {
            int rows = Math.Min(setup.Batch, vocab - start);
            partial.Real.AddRange(CompletionCount.Real(model, prompt, length, rows, first: start, end: start + rows));
            Write(partial);
            Report("real tokens", partial.Real.Count, vocab, resumed, clock);
        }

        var targets = RandomSequences.Distinct(vocab, length, count, (int)context.Seed).ToList();
        clock.Restart();
        resumed = partial.Virtual.Count;
        for (int start = partial.Virtual.Count; start < targets.Count; start += setup.Chunk)
        {
            var chunk = targets.Skip(start).Take(setup.Chunk).ToList();
            string label = string.Create(CultureInfo.InvariantCulture, $"training virtual tokens {start + 1:N0}–{start + chunk.Count:N0} of {targets.Count:N0}");
            var tokens = LlamaRunner.Train(model, setup, context, chunk, start, label);
            partial.Virtual.AddRange(CompletionCount.Virtual(model, tokens, prompt, length, setup.Batch));
            Write(partial);
            Report("virtual tokens", partial.Virtual.Count, targets.Count, resumed, clock);
        }

        var real = CompletionCount.Tally(partial.Real);
        var tally = CompletionCount.Tally(partial.Virtual);
        int hit = partial.Virtual.Zip(targets).Count(p => p.First.SequenceEqual(p.Second));
        var metrics = new Dictionary<string, double>
        {
            ["real/tried"] = real.Tried,
            ["real/distinct"] = real.Distinct,
            ["real/distinct-share"] = 100.0 * real.Distinct / real.Tried,
            ["virtual/tried"] = tally.Tried,
            ["virtual/distinct"] = tally.Distinct,
            ["virtual/distinct-share"] = 100.0 * tally.Distinct / tally.Tried,
            ["virtual/targets-hit"] = 100.0 * hit / tally.Tried,
        };
        string promptText = prompt.Count == 0 ? "no prompt" : $"the prompt [{string.Join(' ', prompt)}]";
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"greedy {length}-token continuations after one token and {promptText}: the {vocab:N0} real tokens give {real.Distinct:N0} distinct (most common [{string.Join(' ', real.MostCommon)}] from {real.MostCommonCount:N0})"),
            string.Create(CultureInfo.InvariantCulture, $"{tally.Tried:N0} virtual tokens, each trained {setup.Steps.For(context.Profile):N0} steps on a distinct random target, give {tally.Distinct:N0} distinct; {hit:N0} continue with exactly their target"),
            "the paper's virtual tokens were loaded from a file of trained soft tokens whose targets it does not state; ours are trained here on random targets",
        };
        File.Delete(partialPath);
        return new SeedResult(metrics, notes);
    }

    /// <summary>Tells the progress display how far the count is, with this stage's own ETA from its rate since the start or resume.</summary>
    private void Report(string what, int done, int total, int resumed, Stopwatch clock)
    {
        double rate = (done - resumed) / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
        var left = TimeSpan.FromSeconds(rate > 0 ? (total - done) / rate : 0);
        context.Report(string.Create(CultureInfo.InvariantCulture, $"{what} {done:N0}/{total:N0}, {rate:F1}/s, this stage's ETA {Durations.Format(left)}"), null);
    }

    private Partial Read()
    {
        if (!File.Exists(partialPath))
        {
            return new Partial([], []);
        }
        // A partial file is written whole or not at all (AtomicFile); one of another format is started again.
        try
        {
            return JsonSerializer.Deserialize<Partial>(File.ReadAllText(partialPath), SpecLoader.Json) ?? new Partial([], []);
        }
        catch (JsonException)
        {
            return new Partial([], []);
        }
    }

    private void Write(Partial partial)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(partialPath)!);
        AtomicFile.WriteText(partialPath, JsonSerializer.Serialize(partial, SpecLoader.Json));
    }
}
