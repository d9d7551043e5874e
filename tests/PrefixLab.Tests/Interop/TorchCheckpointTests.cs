using System.IO.Compression;
using PrefixLab.Tuning;
using PrefixLab.Interop;
using PrefixLab.Tests.Cli;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// torch.save files (<c>pytorch_model.bin</c>, <c>adapter_model.bin</c>) read by the restricted
/// unpickler, against files the independent PyTorch script saved.
/// </summary>
public class TorchCheckpointTests
{
    /// <summary>The script's views file and its safetensors copy, made once: each test damages a copy of its own.</summary>
    private static readonly Lazy<(string Pickled, string Safe)> ViewFiles = new(() =>
    {
        string dir = TestModels.TempDirectory();
        var files = (Path.Combine(dir, "views.bin"), Path.Combine(dir, "views.safetensors"));
        PythonGpt2.Script("views", files.Item1, files.Item2);
        return files;
    });

    [SkippableFact]
    public void A_pytorch_model_bin_loads_the_same_weights_as_its_safetensors_copy()
    {
        PythonGpt2.SkipUnlessAvailable();
        var (pickled, _) = HuggingFaceGpt2.Load(PythonGpt2.PickledCheckpoint);
        var (safe, _) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using var a = pickled;
        using var b = safe;
        var expected = safe.state_dict();
        foreach (var (name, tensor) in pickled.state_dict())
        {
            Assert.True(TestModels.Same(expected[name], tensor), name);
        }
        foreach (var item in PythonGpt2.Reference(PythonGpt2.PickledCheckpoint).GetProperty("logits").EnumerateArray())
        {
            var ids = HuggingFaceGpt2Tests.Ids(item.GetProperty("ids"));
            Assert.InRange(HuggingFaceGpt2Tests.MaxError(pickled, ids, HuggingFaceGpt2Tests.Floats(item.GetProperty("logits"))), 0, 1e-4);
        }
    }

    [SkippableTheory]
    [InlineData("peft_lora")]
    [InlineData("peft_prefix")]
    public void A_peft_adapter_model_bin_gives_the_same_adapter_as_safetensors(string adapter)
    {
        PythonGpt2.SkipUnlessAvailable();
        string pickledDir = Path.Combine(PythonGpt2.PickledCheckpoint, adapter);
        Assert.True(File.Exists(Path.Combine(pickledDir, PeftFormat.PickledWeightsFile)));
        Assert.False(File.Exists(Path.Combine(pickledDir, PeftFormat.WeightsFile)));
        var (model, _) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using var _ = model;
        using var fromSafetensors = PeftFormat.Load(Path.Combine(PythonGpt2.SmallCheckpoint, adapter), model).Method;
        var expected = fromSafetensors.SaveTensors();
        using var fromPickle = PeftFormat.Load(pickledDir, model).Method;
        var got = fromPickle.SaveTensors();
        Assert.Equal(expected.Keys.Order(), got.Keys.Order());
        foreach (var (name, tensor) in got)
        {
            Assert.True(TestModels.Same(expected[name], tensor), name);
        }
    }

    [SkippableFact]
    public void Views_of_shared_storages_read_as_torch_saved_them()
    {
        PythonGpt2.SkipUnlessAvailable();
        var (pickled, safe) = ViewFiles.Value;
        using var file = TorchZipCheckpoint.Open(pickled);
        var expected = TensorFiles.ReadAll(safe);
        Assert.Equal(expected.Keys, file.Tensors.Keys); // the dict's order
        foreach (var (name, tensor) in expected)
        {
            using var read = file.Read(name);
            Assert.Equal(tensor.dtype, read.dtype);
            Assert.True(TestModels.Same(tensor, read), name);
        }
        using var a = file.Read("base");
        using var b = file.Read("transposed");
        a.zero_(); // tensors that shared a storage come back as copies of their own
        Assert.NotEqual(0, b.abs().sum().item<float>());
    }

    [SkippableFact]
    public void A_pickle_that_runs_a_command_is_refused_and_the_command_never_runs()
    {
        string work = TestModels.TempDirectory();
        string marker = Path.Combine(work, "MARKER");
        string model = Path.Combine(work, "gpt2");
        string adapter = Path.Combine(work, "adapter");
        Directory.CreateDirectory(model);
        Directory.CreateDirectory(adapter);
        PythonGpt2.Script("evil", Path.Combine(model, "pytorch_model.bin"), "--run", $"touch '{marker}'");
        foreach (var file in new[] { "config.json", "vocab.json", "merges.txt" })
        {
            File.Copy(Path.Combine(PythonGpt2.SmallCheckpoint, file), Path.Combine(model, file)); // a folder whose only flaw is its weights
        }
        File.Copy(Path.Combine(model, "pytorch_model.bin"), Path.Combine(adapter, PeftFormat.PickledWeightsFile));
        File.Copy(Path.Combine(PythonGpt2.SmallCheckpoint, "peft_lora", PeftFormat.ConfigFile), Path.Combine(adapter, PeftFormat.ConfigFile));

        var e = Assert.Throws<PrefixLabException>(() => HuggingFaceGpt2.Load(model));
        Assert.Contains("'posix.system'", e.Message);
        var (gpt2, _) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using (gpt2)
        {
            e = Assert.Throws<PrefixLabException>(() => PeftFormat.Load(adapter, gpt2));
            Assert.Contains("'posix.system'", e.Message);
        }
        var (code, stdout, stderr) = CliTests.Run("generate", "--model", model, "--prompt", "the cat", "--max-new", "2");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("refused: its pickle names the global 'posix.system'", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(File.Exists(marker));

        // The payload is live: PyTorch's own torch.load runs it.
        PythonGpt2.Script("torch-load", Path.Combine(model, "pytorch_model.bin"));
        Assert.True(File.Exists(marker));
    }

    [SkippableTheory]
    [InlineData("truncated", "damaged or truncated")]
    [InlineData("missing", "storage 'views/data/0' is missing from the archive")]
    [InlineData("short", "should hold 30 Float32 values (120 bytes) but has 100 bytes")]
    [InlineData("legacy", "legacy format")]
    [InlineData("not-a-dict", "holds a list, not a dict of tensors")]
    [InlineData("opcode", "opcode 0x2a at byte 2 is not one that torch.save writes")]
    public void Damaged_archives_are_refused_with_one_line(string damage, string expected)
    {
        PythonGpt2.SkipUnlessAvailable();
        string path = Path.Combine(TestModels.TempDirectory(), "views.bin");
        File.Copy(ViewFiles.Value.Pickled, path);
        switch (damage)
        {
            case "truncated":
                var bytes = File.ReadAllBytes(path);
                File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
                break;
            case "legacy":
                File.WriteAllBytes(path, [0x80, 0x02, 0x8a, 0x0a]); // torch.save's legacy files start with a pickle
                break;
            default:
                using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
                {
                    var entry = zip.GetEntry(damage is "missing" or "short" ? "views/data/0" : "views/data.pkl")!;
                    entry.Delete();
                    if (damage != "missing")
                    {
                        using var stream = zip.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                        stream.Write(damage switch
                        {
                            "short" => new byte[100],
                            "not-a-dict" => [0x80, 0x02, (byte)']', (byte)'.'],
                            _ => [0x80, 0x02, (byte)'*', (byte)'.'],
                        });
                    }
                }
                break;
        }
        var e = Assert.Throws<PrefixLabException>(() => TensorFiles.ReadAll(path));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(expected, e.Message);
    }
}
