using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;

namespace PrefixLab.Workflows;

/// <summary>The file format a tuning run is saved in.</summary>
public enum TuneFormat
{
    /// <summary>PrefixLab's own: an adapter file, or a model file for a method that trains the base (full).</summary>
    PrefixLab,

    /// <summary>A PEFT adapter folder (<c>adapter_config.json</c>, <c>adapter_model.safetensors</c>).</summary>
    Peft,

    /// <summary>A Hugging Face folder of the whole model, in its base's layout (full fine-tuning of a Hugging Face base).</summary>
    HuggingFace,
}

/// <summary>What to train and where to save it, for a method attached by <see cref="TuneWorkflow.Attach"/>.</summary>
/// <param name="Data">The task it trains on.</param>
/// <param name="Options">
/// Steps, learning rate (<see cref="TuneWorkflow.Options"/> starts from the method's default), batch, seed,
/// checkpoints and logs. A method with nothing to train takes no steps whatever it says.
/// </param>
/// <param name="Output">The file (or, for PEFT and Hugging Face, the folder) to write.</param>
public sealed record TuneRequest(TaskData Data, TrainOptions Options, string Output)
{
    /// <summary>Decay of the trained tensors (null: the method's default).</summary>
    public double? WeightDecay { get; init; }

    /// <summary>The format to save in.</summary>
    public TuneFormat Format { get; init; } = TuneFormat.PrefixLab;

    /// <summary>
    /// The base model as the user named it: PEFT's config records it, and a Hugging Face folder is
    /// written from it (its config and tokenizer files).
    /// </summary>
    public string? BaseModel { get; init; }

    /// <summary>Test samples scored at every <see cref="TrainOptions.EvalEvery"/> (null: 3,200 digit samples or the whole text test split).</summary>
    public int? EvalSamples { get; init; }

    /// <summary>Test samples scored once the result is saved (0: none).</summary>
    public int FinalEvalSamples { get; init; }

    /// <summary>The stage name training reports carry.</summary>
    public string Label { get; init; } = "tune";
}

/// <summary>What a tuning run did.</summary>
/// <param name="Training">The training run, or null when the method trains nothing or no steps were asked for.</param>
/// <param name="Steps">The step the saved tensors come from, as the file records it.</param>
/// <param name="Evaluation">The score after saving, when <see cref="TuneRequest.FinalEvalSamples"/> asked for one.</param>
public sealed record TuneResult(TrainingResult? Training, long Steps, EvalResult? Evaluation);

/// <summary>
/// Tune, then save, written once for <c>prefixlab tune</c>, the reproduction's cached runs, the GPT-2
/// study and library users: a tuning method attached to a loaded model (<see cref="Attach"/>), trained
/// by the one training loop (<see cref="Run"/>) and saved in the chosen format. Attaching comes first
/// so a caller can check its options against the method (whether it trains, the padding it needs).
/// </summary>
public sealed class TuneWorkflow : IDisposable
{
    private readonly ILanguageModel model;
    private readonly ModelInfo info;
    private readonly TuningSettings settings;

    private TuneWorkflow(ILanguageModel model, ModelInfo info, TuningSettings settings, ulong seed)
    {
        this.model = model;
        this.info = info;
        this.settings = settings;
        Seed = seed;
        // Taken before the method attaches: the adapter names the plain base it belongs to.
        BaseFingerprint = AdapterFile.Fingerprint(model);
    }

    /// <summary>The attached method.</summary>
    public ITuningMethod Method { get; private set; } = null!;

    /// <summary>The seed of the method's start (and, by <see cref="Options"/>, of the training).</summary>
    public ulong Seed { get; }

    /// <summary>The fingerprint of the base model the adapter is saved against.</summary>
    public string BaseFingerprint { get; }

    /// <summary>Whether the method has anything to train (a hard prompt's tokens are fixed).</summary>
    public bool Trains => Method.Parameters.Count > 0;

    /// <summary>
    /// Padding rows in front of each input: prompts and the paper's prefix take the place of the
    /// padding, so the inputs carry as many pads; a key/value prefix takes the place of as many as it has positions.
    /// </summary>
    public int InputPadding => Method.InputPadding(info.PrefixSize);

    /// <summary>The method's learning rate (above 0 even for a method that trains nothing).</summary>
    public double DefaultLearningRate => Math.Max(Method.DefaultLearningRate, 1e-12);

    /// <summary>The method's weight decay.</summary>
    public double DefaultWeightDecay => Method.DefaultWeightDecay;

    /// <summary>
    /// Attaches <paramref name="method"/> with <paramref name="settings"/> to <paramref name="model"/>
    /// (described by <paramref name="info"/>), its start drawn from <paramref name="seed"/>. Disposing the
    /// workflow detaches it; the model stays the caller's.
    /// </summary>
    public static TuneWorkflow Attach(ILanguageModel model, ModelInfo info, string method, TuningSettings settings, ulong seed)
    {
        var workflow = new TuneWorkflow(model, info, settings, seed);
        workflow.Method = TuningMethods.Create(method, model, settings, seed);
        return workflow;
    }

    /// <summary><paramref name="steps"/> steps at <paramref name="learningRate"/> (null: the method's), batch 64, this workflow's seed.</summary>
    public TrainOptions Options(int steps, double? learningRate = null) =>
        new() { Iterations = steps, LearningRate = learningRate ?? DefaultLearningRate, Seed = Seed };

    /// <summary>
    /// Trains the method as <paramref name="request"/> says and saves it. <paramref name="progress"/>
    /// hears first a one-line description of the run (with no step), then the training reports under
    /// <see cref="TuneRequest.Label"/>.
    /// </summary>
    public TuneResult Run(TuneRequest request, Action<string, TrainingProgress?>? progress = null)
    {
        var (data, options, output) = request;
        int padding = InputPadding;
        double weightDecay = request.WeightDecay ?? DefaultWeightDecay;
        progress?.Invoke($"{request.Label} {Method.Name} on {data.Name}: {Method.ParameterCount:N0} trainable parameters, lr {options.LearningRate:G3}, weight decay {weightDecay:G3}", null);
        TrainingResult? training = null;
        if (Trains && options.Iterations > 0)
        {
            var job = data.Job(model, Method, padding, options, weightDecay, BaseFingerprint);
            training = Trainer.Run(job, options, p => progress?.Invoke(request.Label, p),
                () => data.Evaluate(model, padding, request.EvalSamples, 0, 64),
                () => data.Evaluate(model, padding, request.EvalSamples, 0, 64, DataSplit.Validation));
        }
        // A method with nothing to train records the steps it was asked for, as its cached runs always have.
        long steps = training?.WeightsStep ?? options.Iterations;
        Save(request, steps);
        var eval = request.FinalEvalSamples > 0 ? data.Evaluate(model, padding, request.FinalEvalSamples, 0, 64) : null;
        return new TuneResult(training, steps, eval);
    }

    private void Save(TuneRequest request, long steps)
    {
        string output = request.Output;
        switch (request.Format)
        {
            case TuneFormat.Peft:
                PeftFormat.Save(output, Method, model, request.BaseModel);
                break;
            case TuneFormat.HuggingFace:
                string source = request.BaseModel ?? throw new PrefixLabException("saving a Hugging Face folder needs the base model's folder");
                ModelLoader.SaveHuggingFace(output, model, source);
                break;
            default:
                if (Method.TrainsBase)
                {
                    ModelFile.Save(output, model, info with { Task = request.Data.Name, Steps = steps, Seed = Seed, Precision = ModelInfo.PrecisionEntry(request.Options.Precision) });
                }
                else
                {
                    AdapterFile.Save(output, Method, new AdapterInfo(Method.Name, settings, BaseFingerprint, InputPadding, request.Data.Name, steps, Precision: ModelInfo.PrecisionEntry(request.Options.Precision)));
                }
                break;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Method?.Dispose();
}
