using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>One tensor of a <see cref="ITensorFile"/>: its element type and shape.</summary>
/// <param name="Dtype">The element type.</param>
/// <param name="Shape">The shape.</param>
public sealed record TensorShape(ScalarType Dtype, long[] Shape);

/// <summary>
/// A checkpoint file whose tensors are listed before any is read, then read one at a time: a
/// safetensors file or a PyTorch <c>torch.save</c> archive (<c>.bin</c>, <c>.pt</c>). Loaders check names
/// and shapes against the list first, so a wrong file fails whole and fast, and hold at most one
/// tensor besides their own weights.
/// </summary>
public interface ITensorFile : IDisposable
{
    /// <summary>The file, as given.</summary>
    string Path { get; }

    /// <summary>Every tensor's element type and shape, by name, in the file's order.</summary>
    IReadOnlyDictionary<string, TensorShape> Tensors { get; }

    /// <summary>Reads tensor <paramref name="name"/> into a new contiguous CPU tensor of its own type.</summary>
    Tensor Read(string name);

    /// <summary>
    /// Reads tensor <paramref name="name"/> into <paramref name="destination"/>, a contiguous tensor of
    /// the same element count, straight into its memory where the file allows.
    /// </summary>
    void ReadInto(string name, Tensor destination);

    /// <summary>
    /// Reads tensor <paramref name="name"/> into <paramref name="destination"/>, a contiguous tensor of
    /// the same element count and another float type, converting it. By default through a whole copy
    /// in the stored type; a file that can read a tensor piece by piece converts it through a small
    /// buffer instead, so loading a float32 checkpoint as bfloat16 holds no float32 copy of a tensor.
    /// </summary>
    void ConvertInto(string name, Tensor destination)
    {
        using var read = Read(name);
        destination.copy_(read.view(destination.shape));
    }
}

/// <summary>Opens checkpoint files by their kind.</summary>
public static class TensorFiles
{
    /// <summary>
    /// Opens <paramref name="path"/>: a <c>.safetensors</c> file as safetensors, anything else as a
    /// <c>torch.save</c> archive.
    /// </summary>
    public static ITensorFile Open(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
        ? Open(SafeTensors.ReadHeader(path))
        : TorchZipCheckpoint.Open(path);

    /// <summary>Opens the safetensors file whose validated header is <paramref name="header"/>.</summary>
    public static ITensorFile Open(SafeTensors.Header header) => new SafeTensorsFile(header, SafeTensorsFile.ChunkBytes);

    /// <summary>As <see cref="Open(SafeTensors.Header)"/>, converting through a buffer of <paramref name="chunkBytes"/> (tests).</summary>
    internal static ITensorFile Open(SafeTensors.Header header, long chunkBytes) => new SafeTensorsFile(header, chunkBytes);

    /// <summary>
    /// Copies tensor <paramref name="name"/> of <paramref name="file"/> into <paramref name="target"/>,
    /// transposed when asked (GPT-2's Conv1D) and converted when its float type differs, then refuses
    /// NaN or ±∞ values unless <paramref name="options"/> allow them.
    /// </summary>
    public static void CopyInto(this ITensorFile file, string name, Tensor target, bool transpose, LoadOptions? options)
    {
        using var noGrad = no_grad();
        if (!transpose && file.Tensors[name].Dtype == target.dtype)
        {
            file.ReadInto(name, target);
        }
        else if (!transpose && target.is_contiguous())
        {
            file.ConvertInto(name, target);
        }
        else
        {
            // The scope frees the transposed view too: a view left to the GC keeps the read buffer alive,
            // and with every Conv1D weight that would be a second copy of most of the model.
            using var scope = NewDisposeScope();
            var read = file.Read(name);
            target.copy_(transpose ? read.t() : read);
        }
        (options ?? new LoadOptions()).CheckFinite(file.Path, name, target);
    }

    /// <summary>Reads every tensor of <paramref name="path"/> into memory.</summary>
    public static Dictionary<string, Tensor> ReadAll(string path)
    {
        using var file = Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in file.Tensors.Keys)
            {
                result[name] = file.Read(name);
            }
        }
        catch
        {
            foreach (var tensor in result.Values)
            {
                tensor.Dispose();
            }
            throw;
        }
        return result;
    }

    private sealed class SafeTensorsFile : ITensorFile
    {
        private readonly SafeTensors.Header _header;
        private readonly FileStream _stream;
        private Tensor? _buffer;

        /// <summary>The conversion buffer's size: large enough that its reads run at the disk's speed.</summary>
        public const long ChunkBytes = 32L << 20;

        private readonly long _chunkBytes;

        public SafeTensorsFile(SafeTensors.Header header, long chunkBytes)
        {
            _chunkBytes = chunkBytes;
            Path = header.Path;
            _header = header;
            Tensors = _header.Tensors.ToDictionary(kv => kv.Key, kv => new TensorShape(SafeTensors.TorchType(kv.Value.Dtype), kv.Value.Shape), StringComparer.Ordinal);
            _stream = File.OpenRead(Path);
        }

        public string Path { get; }

        public IReadOnlyDictionary<string, TensorShape> Tensors { get; }

        // Values are read as stored, like a .bin file's; CopyInto checks them once, by the caller's options.
        public Tensor Read(string name) => SafeTensors.Read(_stream, _header, name, LoadOptions.AsStored);

        public void ReadInto(string name, Tensor destination) => SafeTensors.ReadInto(_stream, _header, name, destination, LoadOptions.AsStored);

        // One buffer for the whole file, allocated at the first conversion: a fresh buffer per tensor
        // would fault its pages in again for every tensor.
        public void ConvertInto(string name, Tensor destination)
        {
            var entry = _header.Tensors[name];
            var dtype = SafeTensors.TorchType(entry.Dtype);
            if (entry.Elements != destination.numel() || !destination.is_contiguous())
            {
                throw new PrefixLabException($"tensor '{name}' ({entry.Elements} values) cannot be read into a tensor of {destination.numel()} values");
            }
            if (_buffer is null || _buffer.dtype != dtype)
            {
                _buffer?.Dispose();
                _buffer = empty(Math.Max(1, _chunkBytes / ElementSize(dtype)), dtype);
            }
            using var flat = destination.view(-1);
            _stream.Seek(_header.DataStart + entry.Start, SeekOrigin.Begin);
            for (long at = 0; at < entry.Elements; at += _buffer.shape[0])
            {
                long count = Math.Min(_buffer.shape[0], entry.Elements - at);
                using var part = _buffer.narrow(0, 0, count);
                _stream.ReadExactly(part.bytes);
                using var slice = flat.narrow(0, at, count);
                slice.copy_(part);
            }
        }

        public void Dispose()
        {
            _buffer?.Dispose();
            _stream.Dispose();
        }

        private static long ElementSize(ScalarType dtype)
        {
            using var probe = empty(0, dtype);
            return probe.element_size();
        }
    }
}
