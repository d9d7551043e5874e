using System.Diagnostics;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Benchmarks;

/// <summary>What <see cref="LlamaBench.Run"/> measured on one checkpoint in one compute type.</summary>
/// <param name="Dtype">The compute type (<c>f32</c> or <c>bf16</c>).</param>
/// <param name="LoadSeconds">Reading the folder into a model.</param>
/// <param name="WeightsMb">The weights in the compute type, MiB.</param>
/// <param name="RssBeforeLoadMb">Resident memory before loading (the runtime and libtorch), MiB.</param>
/// <param name="PeakRssMb">Peak resident memory of the process at the end, MiB.</param>
/// <param name="PrefillTokensPerSecond">Prompt tokens per second of the prefill.</param>
/// <param name="DecodeTokensPerSecond">Greedy tokens per second with the key/value cache.</param>
/// <param name="DecodeWeightGbPerSecond">Weight bytes a decoded token reads, times the decode rate, GB/s.</param>
/// <param name="CopyGbPerSecond">This machine's copy bandwidth (bytes read plus written per second), GB/s.</param>
public sealed record LlamaSpeed(string Dtype, double LoadSeconds, double WeightsMb, double RssBeforeLoadMb, double PeakRssMb,
    double PrefillTokensPerSecond, double DecodeTokensPerSecond, double DecodeWeightGbPerSecond, double CopyGbPerSecond)
{
    /// <summary>Decode's share of the bandwidth bound: a decoded token must read its weights at least once.</summary>
    public double BandwidthFraction => DecodeWeightGbPerSecond / CopyGbPerSecond;

    /// <summary>What loading added to the resident memory, as a multiple of the weights.</summary>
    public double PeakOverWeights => (PeakRssMb - RssBeforeLoadMb) / WeightsMb;
}

/// <summary>
/// Issue 20's Llama benchmark on a checkpoint folder: load time, peak memory, prefill and cached greedy
/// decode speed, the same figures as scripts/bench-llama-pytorch.py reports for the PyTorch reference.
/// </summary>
public static class LlamaBench
{
    /// <summary>Measures the checkpoint in <paramref name="directory"/> computing in <paramref name="dtype"/>.</summary>
    public static LlamaSpeed Run(string directory, ScalarType dtype, int prompt = 128, int decode = 64, Action<string>? log = null)
    {
        double before = PeakRssMb();
        var clock = Stopwatch.StartNew();
        using var model = HuggingFaceLlama.Load(directory, dtype: dtype);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        long weightBytes = model.parameters().Sum(p => p.numel() * p.element_size());
        // A decoded token reads every weight once but one row of the embedding (unless the head is tied to it).
        var embedding = model.TokenEmbedding;
        long tokenBytes = weightBytes - (model.Config.TiedHead ? 0 : embedding.numel() * embedding.element_size());
        log?.Invoke($"loaded in {loadSeconds:F1} s: {weightBytes / 1048576.0:F0} MiB of weights");

        using var noGrad = no_grad();
        using var generator = new Generator(0);
        using var ids = randint(model.Config.VocabSize, [1, prompt], generator: generator);
        using (var warm = new KvCache(model.Shape.Layers))
        {
            model.Hidden(ids[.., ..8], warm).Dispose(); // warm-up: allocator and kernels, not timed
        }
        using var cache = new KvCache(model.Shape.Layers);
        clock.Restart();
        var next = Next(model, ids, cache);
        double prefillSeconds = clock.Elapsed.TotalSeconds;
        log?.Invoke($"prefill of {prompt} tokens: {prompt / prefillSeconds:F1} tokens/s");
        clock.Restart();
        for (int i = 0; i < decode; i++)
        {
            using var input = next;
            next = Next(model, input, cache);
        }
        double decodeRate = decode / clock.Elapsed.TotalSeconds;
        next.Dispose();
        log?.Invoke($"decode of {decode} tokens: {decodeRate:F2} tokens/s");
        return new LlamaSpeed(dtype == ScalarType.BFloat16 ? "bf16" : "f32", loadSeconds, weightBytes / 1048576.0, before, PeakRssMb(),
            prompt / prefillSeconds, decodeRate, tokenBytes * decodeRate / 1e9, CopyBandwidth());
    }

    /// <summary>The greedy next token after <paramref name="tokens"/>, which extend <paramref name="cache"/>.</summary>
    private static Tensor Next(PrefixLab.Model.Llama model, Tensor tokens, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var hidden = model.Hidden(tokens, cache, lastRows: 1);
        return model.Head(hidden).argmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>Bytes read plus written per second copying a 512 MiB tensor, GB/s.</summary>
    private static double CopyBandwidth()
    {
        const long bytes = 512L << 20;
        using var source = ones(bytes / 4);
        using var target = empty_like(source);
        target.copy_(source);
        const int repeats = 5;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeats; i++)
        {
            target.copy_(source);
        }
        return 2.0 * bytes * repeats / clock.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>The process's peak resident memory (VmHWM), MiB; 0 where /proc is not there.</summary>
    private static double PeakRssMb()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
        {
            return 0;
        }
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }
}
