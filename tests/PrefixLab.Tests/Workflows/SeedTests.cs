using PrefixLab.Experiments;
using PrefixLab.Tasks;
using PrefixLab.Tests.Cli;
using PrefixLab.Tests.Experiments;
using PrefixLab.Tuning;

namespace PrefixLab.Tests.Workflows;

/// <summary>
/// One seed names one model, whoever trains it: <c>prefixlab pretrain</c> and <c>tune</c> with a spec's
/// settings and <c>--seed S</c> write exactly the files <c>reproduce</c> caches for seed S.
/// </summary>
public class SeedTests
{
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void Pretrain_and_tune_with_a_specs_settings_write_reproduces_files_byte_for_byte(ulong seed)
    {
        // nb01 under the smoke profile: 1 layer, 1 head, width 96, P = 1, 20 steps of ascending at 5e-4,
        // then 10 steps of full fine-tuning on descending.
        var spec = SpecLoader.Load(Path.Combine(SpecTests.SpecsDirectory(), "01-nb01.json"));
        var setup = TuningSetup.Of(spec);
        var profile = Profiles.Get("smoke");
        var run = setup.RunsFor(profile).Single(r => r.Name == "full-descending");
        string dir = TestModels.TempDirectory();
        var training = new CachedTraining(new RunContext(profile, seed, new ResultCache(Path.Combine(dir, "cache")), (_, _) => { }));
        var baseFile = training.Base(setup.Config(profile), setup.Model, setup.Pretrain);
        var runFile = training.Run(baseFile, run.Method, TuningMethods.Get(run.Method).Defaults, TaskRegistry.Default.Get(run.Task), run.Steps.For(profile), null, "full");

        string model = Path.Combine(dir, "base.safetensors");
        var (code, _, stderr) = CliTests.Run("pretrain", "--task", setup.Pretrain.Task, "--prefix-size", "1", "--layers", "1", "--heads", "1", "--width", "96",
            "--iters", $"{setup.Pretrain.Steps.For(profile)}", "--lr", "5e-4", "--seed", $"{seed}", "--no-tensorboard", "--out", model);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(baseFile.Path), File.ReadAllBytes(model));

        string tuned = Path.Combine(dir, "full.safetensors");
        (code, _, stderr) = CliTests.Run("tune", "--model", model, "--method", "full", "--task", run.Task,
            "--iters", $"{run.Steps.For(profile)}", "--seed", $"{seed}", "--no-tensorboard", "--out", tuned);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(runFile.Path), File.ReadAllBytes(tuned));
    }
}
