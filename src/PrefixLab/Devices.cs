using static TorchSharp.torch;

namespace PrefixLab;

/// <summary>
/// Where torch computes, chosen once per process (<c>--device</c>): new tensors and modules go to the
/// chosen device. The CPU is the default and the only device this build is tested on; CUDA needs
/// TorchSharp's CUDA package in place of the CPU one (docs/reproduction.md).
/// </summary>
public static class Devices
{
    /// <summary>The CPU (the default).</summary>
    public const string Cpu = "cpu";

    /// <summary>An NVIDIA GPU through TorchSharp's CUDA package.</summary>
    public const string Cuda = "cuda";

    /// <summary>Selects <paramref name="name"/> for this process; one clear error when it is unknown or absent.</summary>
    public static void Select(string name)
    {
        switch (name)
        {
            case Cpu:
                // The CPU is torch's own default: nothing is set, so the CPU path stays as it is.
                return;
            case Cuda:
                PrefixLabException.Check(cuda.is_available(), "--device cuda: this TorchSharp has no CUDA (it is the CPU package); a GPU needs TorchSharp's CUDA package, see docs/reproduction.md");
                set_default_device(CUDA);
                return;
            default:
                throw new PrefixLabException($"--device: unknown device '{name}' (known: {Cpu}, {Cuda})");
        }
    }
}
