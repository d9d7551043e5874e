using PrefixLab.Interop;

namespace PrefixLab.Tests.Cli;

public class KeepBestCliTests
{
    [Fact]
    public void Pretrain_keep_best_logs_validation_saves_the_kept_step_and_curves_draw_it()
    {
        string dir = TestModels.TempDirectory();
        string model = Path.Combine(dir, "model.safetensors");
        var (code, stdout, stderr) = CliTests.Run("pretrain", "--task", "plus1", "--iters", "40", "--width", "16", "--log-every", "10",
            "--eval-every", "20", "--eval-samples", "30", "--keep-best", "--out", model);
        Assert.True(code == 0, stderr);
        var kept = Assert.Single(stdout.Split('\n'), l => l.StartsWith("kept the weights of step ", StringComparison.Ordinal));
        long keptStep = long.Parse(kept.Split(' ')[5], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(keptStep, new[] { 20L, 40L });
        var (loaded, info) = ModelFile.Load(model);
        loaded.Dispose();
        Assert.Equal(keptStep, info.Steps); // the file says how long its weights were trained

        // eval --split validation scores the saved weights on the samples the run chose them by.
        var keptScore = kept.Split('(', ')')[1]; // "validation plus1 NN.NN %, c/30"
        (code, stdout, stderr) = CliTests.Run("eval", "--model", model, "--task", "plus1", "--samples", "30", "--split", "validation");
        Assert.True(code == 0, stderr);
        Assert.Contains(keptScore.Split(", ")[1] + " exactly right", stdout);

        string png = Path.Combine(dir, "validation.png");
        (code, stdout, stderr) = CliTests.Run("curves", Path.Combine(dir, "model.log.jsonl"), "--metric", "validation", "--out", png);
        Assert.True(code == 0, stderr);
        Assert.Contains("model.log.jsonl: 2 points, step 20", stdout);

        // A run that did not keep its best logged no validation: one line, exit code 2.
        string plain = Path.Combine(dir, "plain.safetensors");
        (code, _, stderr) = CliTests.Run("pretrain", "--task", "plus1", "--iters", "20", "--width", "16", "--log-every", "10", "--out", plain);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliTests.Run("curves", Path.Combine(dir, "plain.log.jsonl"), "--metric", "validation", "--out", png);
        Assert.Equal(2, code);
        Assert.Contains("logged no validation score (train with --keep-best)", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
