using PrefixLab.Model;

namespace PrefixLab.Training;

/// <summary>
/// Settings of one training run. The defaults are the paper's pretraining settings (paper.md §3): AdamW
/// with betas (0.9, 0.95), batch 64, gradient-norm clip 1.0, constant learning rate 5e-4.
/// </summary>
public sealed record TrainOptions
{
    /// <summary>Optimiser steps to reach (a resumed run continues up to this number).</summary>
    public required int Iterations { get; init; }

    /// <summary>Samples per step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Constant learning rate.</summary>
    public double LearningRate { get; init; } = 5e-4;

    /// <summary>AdamW's β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW's β2.</summary>
    public double Beta2 { get; init; } = 0.95;

    /// <summary>Largest gradient norm; larger gradients are scaled down to it. 0 turns clipping off.</summary>
    public double GradClip { get; init; } = 1.0;

    /// <summary>
    /// The type of the model's matrix products in training (<see cref="Model.Precision"/>): bf16 runs them
    /// in bfloat16 and keeps weights, optimiser state, softmax, LayerNorm and the loss in float32.
    /// </summary>
    public Precision Precision { get; init; } = Precision.F32;

    /// <summary>Seed of the batches and the dropout masks.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Write a checkpoint every this many steps (0: only at the end, when a path is given).</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>Where the checkpoint goes; null for none.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Continue from <see cref="CheckpointPath"/> when it exists.</summary>
    public bool Resume { get; init; }

    /// <summary>JSON-lines log of the run's progress; null for none.</summary>
    public string? LogPath { get; init; }

    /// <summary>
    /// Folder of TensorBoard event files repeating the log's numbers (<see cref="TensorBoardLog"/>); null for none.
    /// </summary>
    public string? TensorBoardDir { get; init; }

    /// <summary>Steps between log lines (and the loss they average over).</summary>
    public int LogEvery { get; init; } = 100;

    /// <summary>
    /// Steps between evaluations during training (0: none), when the run is given an evaluation; a
    /// multiple of <see cref="LogEvery"/>, so each result lands on a log line.
    /// </summary>
    public int EvalEvery { get; init; }

    /// <summary>
    /// Hold the validation split out of training, score it at every evaluation and end the run with the
    /// weights that scored best there (the latest on a tie) instead of the last ones. The test split is
    /// never used to choose. Needs <see cref="EvalEvery"/>. The digit tasks' batches
    /// (<see cref="TaskTraining.StepLoss"/>) hold the split out; other data must do so itself.
    /// </summary>
    public bool KeepBest { get; init; }

    /// <summary>Throws <see cref="PrefixLabException"/> for a value out of range.</summary>
    public TrainOptions Validate()
    {
        PrefixLabException.Check(Iterations >= 0, $"iterations (--iters) must be 0 or more (got {Iterations})");
        PrefixLabException.Check(BatchSize >= 1, $"batch size (--batch) must be at least 1 (got {BatchSize})");
        PrefixLabException.Check(double.IsFinite(LearningRate) && LearningRate > 0, $"learning rate (--lr) must be a positive number (got {LearningRate})");
        PrefixLabException.Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, $"betas must be in [0, 1) (got {Beta1}, {Beta2})");
        PrefixLabException.Check(double.IsFinite(GradClip) && GradClip >= 0, $"gradient clip must be 0 or more (got {GradClip})");
        PrefixLabException.Check(CheckpointEvery >= 0, $"checkpoint interval (--checkpoint-every) must be 0 or more (got {CheckpointEvery})");
        PrefixLabException.Check(LogEvery >= 1, $"log interval (--log-every) must be at least 1 (got {LogEvery})");
        PrefixLabException.Check(EvalEvery >= 0 && EvalEvery % LogEvery == 0, $"evaluation interval (--eval-every) must be a multiple of the log interval (--log-every) {LogEvery} (got {EvalEvery})");
        PrefixLabException.Check(Enum.IsDefined(Precision), $"precision must be f32 or bf16 (got {Precision})");
        PrefixLabException.Check(!KeepBest || EvalEvery > 0, "keeping the best weights needs an evaluation interval (--eval-every N)");
        return this;
    }
}
