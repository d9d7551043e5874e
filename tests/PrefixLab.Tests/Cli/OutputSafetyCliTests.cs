using System.Diagnostics;
using PrefixLab.Interop;

namespace PrefixLab.Tests.Cli;

/// <summary>
/// Issue 17, item 1: no output the user names (nor the checkpoint and log beside it) may replace a
/// device, a pipe, a folder or one of the command's inputs, and every such refusal, like a bad output
/// name or format, comes before the first training step: one line, exit code 2, nothing written.
/// </summary>
public class OutputSafetyCliTests
{
    [SkippableFact]
    public void A_fifo_or_a_folder_as_output_is_refused_before_training_and_left_as_it_was()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "named pipes are made with mkfifo");
        string dir = TestModels.TempDirectory();
        string fifo = Path.Combine(dir, "pipe");
        Shell("mkfifo", fifo);
        string folder = Path.Combine(dir, "folder");
        Directory.CreateDirectory(folder);

        foreach (var (target, kind) in new[] { (fifo, "named pipe"), (folder, "directory") })
        {
            var (code, stdout, stderr) = CliTests.Run("pretrain", "--task", "plus1", "--iters", "3", "--width", "16", "--out", target);
            AssertRefusedBeforeTraining(code, stdout, stderr, kind);
            // No checkpoint, log or temporary file beside it.
            Assert.Equal(["folder", "pipe"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Empty(Directory.GetFileSystemEntries(folder));
        }
        Assert.Equal("fifo", Shell("stat", "-c", "%F", fifo));
        Assert.Equal("directory", Shell("stat", "-c", "%F", folder));
    }

    [SkippableFact]
    public void Dev_null_as_output_stays_a_device_and_nothing_is_written_next_to_it()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/dev/null"), "needs /dev/null");
        var before = Directory.GetFiles("/dev", "null*");
        var (code, stdout, stderr) = CliTests.Run("pretrain", "--task", "plus1", "--iters", "3", "--width", "16", "--out", "/dev/null");
        AssertRefusedBeforeTraining(code, stdout, stderr, "character device");
        Assert.Equal("character special file", Shell("stat", "-c", "%F", "/dev/null"));
        Assert.Equal(before, Directory.GetFiles("/dev", "null*"));
    }

    [SkippableFact]
    public void An_output_that_is_an_input_under_another_name_is_refused_and_the_base_model_is_unchanged()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "hard and symbolic links as Linux makes them");
        string dir = TestModels.TempDirectory();
        string basePath = Path.Combine(dir, "b.safetensors");
        using (var model = TestModels.Create(layers: 1, width: 16, blockSize: 20))
        {
            ModelFile.Save(basePath, model, new ModelInfo(model.Config, 1));
        }
        byte[] original = File.ReadAllBytes(basePath);
        string hard = Path.Combine(dir, "hard.safetensors");
        Shell("ln", basePath, hard);
        string soft = Path.Combine(dir, "soft.safetensors");
        File.CreateSymbolicLink(soft, basePath);
        // The checkpoint beside --out x.safetensors is x.ckpt.safetensors: an input there counts too.
        string asCheckpoint = Path.Combine(dir, "c.ckpt.safetensors");
        File.Copy(basePath, asCheckpoint);

        foreach (var (model, output, method) in new[]
        {
            (basePath, basePath, "full"), (basePath, hard, "full"), (basePath, soft, "lora"), (soft, basePath, "prefix"),
            (asCheckpoint, Path.Combine(dir, "c.safetensors"), "lora"),
        })
        {
            var (code, stdout, stderr) = CliTests.Run("tune", "--model", model, "--method", method, "--task", "plus1", "--iters", "3", "--out", output);
            AssertRefusedBeforeTraining(code, stdout, stderr, "is the same file as --model");
        }
        Assert.Equal(original, File.ReadAllBytes(basePath));
        Assert.Equal(original, File.ReadAllBytes(asCheckpoint));
        Assert.Equal(["b.safetensors", "c.ckpt.safetensors", "hard.safetensors", "soft.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("", "prefix", "prefixlab", "--out is empty")]
    [InlineData("dir/", "prefix", "prefixlab", "ends in '/', so it names a folder")]
    [InlineData("sp", "soft-prompt", "peft", "is a PrefixLab model, which has no Hugging Face counterpart")]
    [InlineData("model.safetensors/x.safetensors", "lora", "prefixlab", "which is a regular file, not a folder")]
    public void A_bad_output_name_or_format_is_refused_before_the_first_step(string output, string method, string format, string expected)
    {
        string dir = TestModels.TempDirectory();
        string basePath = Path.Combine(dir, "model.safetensors");
        using (var model = TestModels.Create(layers: 1, width: 16, blockSize: 20))
        {
            ModelFile.Save(basePath, model, new ModelInfo(model.Config, 1));
        }
        var (code, stdout, stderr) = CliTests.RunIn(dir, "tune", "--model", "model.safetensors", "--method", method, "--task", "plus1", "--iters", "3",
            "--format", format, "--out", output);
        AssertRefusedBeforeTraining(code, stdout, stderr, expected);
        Assert.Equal(["model.safetensors"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
    }

    /// <summary>Exit code 2, one line naming the problem, and no sign of training: no progress, no summary.</summary>
    internal static void AssertRefusedBeforeTraining(int code, string stdout, string stderr, string expected)
    {
        Assert.True(code == 2, $"exit code {code}: {stderr}");
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("", stdout);
    }

    private static string Shell(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output;
    }
}
