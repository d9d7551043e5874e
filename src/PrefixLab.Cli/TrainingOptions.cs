using System.CommandLine;
using PrefixLab.Model;
using PrefixLab.Training;

namespace PrefixLab.Cli;

/// <summary>
/// The options of a training run that <c>pretrain</c> and <c>tune</c> share: batch, seed, checkpoints,
/// logs, evaluations and early stopping. Steps, learning rate and weight decay are each command's own
/// (their defaults differ).
/// </summary>
internal sealed class TrainingOptions : IOptionGroup
{
    private readonly Option<int> batch = Opt.Int("--batch", "samples per step, as many as memory holds", 64, 1, Ranges.MaxBatch);
    private readonly Option<ulong> seed = Opt.Seed("--seed", "seed of initialisation, batches and dropout", 1);
    private readonly Option<int> checkpointEvery = Opt.Int("--checkpoint-every", "checkpoint to FILE.ckpt.safetensors beside --out every N steps; 0: at the end only", 1000, 0, Ranges.MaxSteps);
    private readonly Option<bool> resume = Opt.Flag("--resume", "continue from that checkpoint (the log is cut back to its step)");
    private readonly Option<int> logEvery = Opt.Int("--log-every", "JSON-lines log FILE.log.jsonl beside --out every N steps", 100, 1, Ranges.MaxSteps);
    private readonly Option<int> evalSamples = Opt.Int("--eval-samples", "after training, evaluate on N test samples; 0 skips", 0, 0, Ranges.MaxSamples);
    private readonly Option<int?> evalEvery = Opt.IntOrNull("--eval-every",
        "also evaluate every N steps (a multiple of --log-every), on --eval-samples samples (3200 if not given): shown with the progress and in the log",
        1, Ranges.MaxSteps, "none");
    private readonly Option<bool> keepBest = Opt.Flag("--keep-best",
        "hold the validation split out of training (digit tasks: 1 in 20 inputs), score it at every --eval-every and save the weights that scored best there");
    private readonly Option<string?> logDir = Opt.Text("--log-dir", "DIR", "TensorBoard event files of the same numbers in DIR", defaultText: "FILE.tb/ beside --out");
    private readonly Option<bool> noTensorBoard = Opt.Flag("--no-tensorboard", "no event files");
    private readonly ChoiceOption<Precision> precision = Opt.Choice("--precision",
        "matrix products in float32, or in bfloat16 with float32 weights, optimiser state, softmax, LayerNorm and loss (bf16 runs carry it in their fingerprint and model file)",
        [.. Precisions.All]);

    public IEnumerable<Option> Options => [batch, seed, checkpointEvery, resume, logEvery, evalSamples, evalEvery, keepBest, logDir, noTensorBoard, precision];

    /// <summary>The run's settings for a run writing <paramref name="output"/>.</summary>
    public TrainingRun Read(ParseResult parse, string output)
    {
        string? dir = parse.GetValue(logDir);
        bool off = parse.GetValue(noTensorBoard);
        PrefixLabException.Check(!(off && dir is not null), "--log-dir and --no-tensorboard exclude each other");
        return new(output, parse.GetValue(batch), parse.GetValue(seed), parse.GetValue(checkpointEvery), parse.GetValue(resume), parse.GetValue(logEvery),
            parse.GetValue(evalSamples), parse.GetValue(evalEvery) ?? 0, parse.GetValue(keepBest), off ? null : dir ?? RunFiles.TensorBoard(output), precision.Read(parse));
    }
}

/// <summary>What <see cref="TrainingOptions"/> read for a run writing <paramref name="Output"/>.</summary>
internal sealed record TrainingRun(string Output, int Batch, ulong Seed, int CheckpointEvery, bool Resume, int LogEvery, int EvalSamples, int EvalEvery, bool KeepBest, string? TensorBoard, Precision Precision)
{
    /// <summary>The training loop's options for <paramref name="iterations"/> steps at <paramref name="learningRate"/>, checked.</summary>
    public TrainOptions For(int iterations, double learningRate) => new TrainOptions
    {
        Iterations = iterations,
        LearningRate = learningRate,
        BatchSize = Batch,
        Seed = Seed,
        CheckpointEvery = CheckpointEvery,
        CheckpointPath = RunFiles.Checkpoint(Output),
        Resume = Resume,
        LogPath = RunFiles.Log(Output),
        LogEvery = LogEvery,
        EvalEvery = EvalEvery,
        TensorBoardDir = TensorBoard,
        KeepBest = KeepBest,
        Precision = Precision,
    }.Validate();
}
