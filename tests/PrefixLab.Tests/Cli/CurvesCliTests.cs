using SkiaSharp;

namespace PrefixLab.Tests.Cli;

public class CurvesCliTests
{
    [Fact]
    public void Curves_draw_the_evaluations_a_run_logged_and_refuse_a_log_that_is_not_one()
    {
        string dir = TestModels.TempDirectory();
        string model = Path.Combine(dir, "model.safetensors");
        var (code, _, stderr) = CliTests.Run("pretrain", "--task", "plus1", "--iters", "40", "--width", "16", "--log-every", "10", "--eval-every", "20", "--eval-samples", "30", "--out", model);
        Assert.True(code == 0, stderr);
        string log = Path.Combine(dir, "model.log.jsonl");
        string png = Path.Combine(dir, "curves.png");

        (code, var stdout, stderr) = CliTests.Run("curves", log, log, "--labels", "a,b", "--out", png);
        Assert.True(code == 0, stderr);
        Assert.Contains("a: 2 points, step 20", stdout); // evaluations at steps 20 and 40 only
        Assert.Contains("b: 2 points", stdout);
        using (var bitmap = SKBitmap.Decode(png))
        {
            Assert.Equal((900, 480), (bitmap.Width, bitmap.Height));
        }
        (code, stdout, stderr) = CliTests.Run("curves", log, "--metric", "loss", "--out", png);
        Assert.True(code == 0, stderr);
        Assert.Contains("model.log.jsonl: 4 points, step 10", stdout); // a loss on every log line

        // A log cut mid-line, a missing log and mismatched labels: one line, exit code 2, the chart kept.
        var before = File.ReadAllBytes(png);
        string cut = Path.Combine(dir, "cut.log.jsonl");
        File.WriteAllText(cut, File.ReadAllText(log)[..^20]);
        foreach (var (args, expected) in new[]
        {
            (new[] { "curves", cut, "--out", png }, "cut.log.jsonl, line 4: not a training log record"),
            (new[] { "curves", Path.Combine(dir, "none.jsonl"), "--out", png }, "no such log file"),
            (new[] { "curves", log, "--labels", "a,b", "--out", png }, "--labels has 2 entries for 1 log(s)"),
        })
        {
            (code, _, stderr) = CliTests.Run(args);
            Assert.Equal(2, code);
            Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        Assert.Equal(before, File.ReadAllBytes(png));
    }
}
