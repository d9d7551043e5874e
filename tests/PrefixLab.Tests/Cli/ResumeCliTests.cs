using PrefixLab.Training;

namespace PrefixLab.Tests.Cli;

/// <summary>Issue 17, item 6: resuming a finished run, and a run killed after its last checkpoint.</summary>
public class ResumeCliTests
{
    private static string[] Pretrain(string output, int iterations, params string[] more) =>
        ["pretrain", "--task", "plus1", "--width", "16", "--iters", $"{iterations}", "--checkpoint-every", "10", "--log-every", "5", "--out", output, .. more];

    [Fact]
    public void Resuming_a_finished_run_says_so_and_gives_the_last_logged_loss()
    {
        string output = Path.Combine(TestModels.TempDirectory(), "m.safetensors");
        var (code, _, stderr) = CliTests.Run(Pretrain(output, 10));
        Assert.True(code == 0, stderr);
        double last = RunLog.Read(Path.ChangeExtension(output, ".log.jsonl"))[^1].Loss;

        (code, var stdout, stderr) = CliTests.Run(Pretrain(output, 10, "--resume"));
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("NaN", stdout);
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"nothing left to train (last logged loss {last:F4})"), stdout);
    }

    [Fact]
    public void A_resumed_run_cuts_its_log_back_to_the_checkpoint_so_each_step_is_logged_once()
    {
        string dir = TestModels.TempDirectory();
        string output = Path.Combine(dir, "m.safetensors");
        string checkpoint = Path.Combine(dir, "m.ckpt.safetensors");
        string log = Path.Combine(dir, "m.log.jsonl");

        // The uninterrupted run, for reference.
        var (code, _, stderr) = CliTests.Run(Pretrain(Path.Combine(dir, "whole.safetensors"), 20));
        Assert.True(code == 0, stderr);
        var whole = RunLog.Read(Path.Combine(dir, "whole.log.jsonl"));

        // A run killed at step 20 whose last checkpoint is step 10's: the log runs past the checkpoint
        // (steps 15 and 20, and half a line the kill cut short).
        (code, _, stderr) = CliTests.Run(Pretrain(output, 10));
        Assert.True(code == 0, stderr);
        File.Copy(checkpoint, checkpoint + ".step10");
        (code, _, stderr) = CliTests.Run(Pretrain(output, 20, "--resume"));
        Assert.True(code == 0, stderr);
        File.Copy(checkpoint + ".step10", checkpoint, overwrite: true);
        File.AppendAllText(log, "{\"step\":25,\"tot");
        Assert.Equal(5, File.ReadAllLines(log).Length);

        (code, var stdout, stderr) = CliTests.Run(Pretrain(output, 20, "--resume"));
        Assert.True(code == 0, stderr);
        Assert.Contains("resumed from step 10", stdout);
        var entries = RunLog.Read(log);
        Assert.Equal([5L, 10, 15, 20], entries.Select(e => e.Step));
        // Steps 11-20 were trained again exactly as the uninterrupted run trained them.
        Assert.Equal(whole.Select(e => e.Loss), entries.Select(e => e.Loss));
    }
}
