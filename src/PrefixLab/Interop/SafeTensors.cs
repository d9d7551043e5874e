using System.Text;
using PrefixLab.Util;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// safetensors files with the header's <c>__metadata__</c>. TorchSharp.PyBridge encodes and decodes the
/// tensors; it does not keep <c>__metadata__</c>, so this class adds it to the header PyBridge writes and
/// reads it back, and it checks every file before decoding it, so that a truncated or malformed file is
/// refused with a one-line <see cref="PrefixLabException"/> instead of failing somewhere inside.
/// </summary>
public static class SafeTensors
{
    private const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, int> DtypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1,
        ["U8"] = 1,
        ["I8"] = 1,
        ["I16"] = 2,
        ["U16"] = 2,
        ["F16"] = 2,
        ["BF16"] = 2,
        ["I32"] = 4,
        ["U32"] = 4,
        ["F32"] = 4,
        ["I64"] = 8,
        ["U64"] = 8,
        ["F64"] = 8,
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> and <paramref name="metadata"/> to <paramref name="path"/>
    /// atomically: a reader sees the old file or the whole new one, never a part.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var encoded = new MemoryStream();
        using var scope = NewDisposeScope(); // frees the detached copies below, which can be a whole model
        var contiguous = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.detach().contiguous().cpu(), StringComparer.Ordinal);
        TorchSharp.PyBridge.Safetensors.SaveStateDict(encoded, contiguous, leaveOpen: true);
        var bytes = encoded.GetBuffer().AsSpan(0, (int)encoded.Length);
        long headerLength = BitConverter.ToInt64(bytes[..8]);
        var header = JsonNode.Parse(bytes.Slice(8, (int)headerLength))!.AsObject();
        var meta = new JsonObject();
        foreach (var (key, value) in metadata)
        {
            meta[key] = value;
        }
        header["__metadata__"] = meta;
        var data = bytes[(8 + (int)headerLength)..].ToArray();
        AtomicFile.Write(path, stream => WriteFile(stream, header, data));
    }

    /// <summary>Reads the header's metadata without decoding the tensors.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => ReadHeader(path).Metadata;

    /// <summary>
    /// Reads every tensor and the metadata of <paramref name="path"/>, after the header's checks; a
    /// floating-point tensor holding NaN or ±∞ is refused unless <paramref name="options"/> allow it.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(string path, LoadOptions? options = null)
    {
        var header = ReadHeader(path);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var stream = File.OpenRead(path);
        foreach (var name in header.Tensors.Keys)
        {
            tensors[name] = Read(stream, header, name, options);
        }
        return (tensors, header.Metadata);
    }

    /// <summary>
    /// The validated header: metadata and each tensor's dtype and shape. Every check of the format is
    /// here, before any tensor is allocated: strict JSON, known dtypes, shapes whose byte size (computed
    /// with overflow checks) is their offsets' span, and offsets that tile the data section exactly
    /// (from 0 to its end, no gaps, no overlaps), as the safetensors format specifies.
    /// </summary>
    public static Header ReadHeader(string path)
    {
        if (!File.Exists(path))
        {
            throw new PrefixLabException($"file not found: '{path}'");
        }
        using var stream = File.OpenRead(path);
        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (fileLength < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw Malformed(path, $"only {fileLength} bytes, too short for a safetensors header");
        }
        long headerLength = BitConverter.ToInt64(prefix);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > fileLength - 8)
        {
            throw Malformed(path, $"header length {headerLength} does not fit a file of {fileLength} bytes (truncated?)");
        }
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var json = JsonFiles.ParseObject(headerBytes, $"'{path}' is not a valid safetensors file: its header is not strict JSON");
        return ParseHeader(path, json, fileLength - 8 - headerLength) with { Path = path, DataStart = 8 + headerLength };
    }

    /// <summary>
    /// Reads tensor <paramref name="name"/> of <paramref name="header"/>'s file, open as
    /// <paramref name="stream"/>, straight into <paramref name="destination"/>'s memory, which must be a
    /// contiguous CPU tensor of the same element type and count. Loading a checkpoint this way holds no
    /// second copy of it. NaN or ±∞ values are refused unless <paramref name="options"/> allow them.
    /// </summary>
    public static void ReadInto(Stream stream, Header header, string name, Tensor destination, LoadOptions? options = null)
    {
        var entry = header.Tensors[name];
        if (TorchType(entry.Dtype) != destination.dtype || entry.Elements != destination.numel() || !destination.is_contiguous())
        {
            throw new PrefixLabException($"tensor '{name}' ({entry.Dtype} [{string.Join(", ", entry.Shape)}]) cannot be read into a {destination.dtype} tensor of {destination.numel()} values");
        }
        stream.Seek(header.DataStart + entry.Start, SeekOrigin.Begin);
        stream.ReadExactly(destination.bytes);
        (options ?? new LoadOptions()).CheckFinite(header.Path, name, destination);
    }

    /// <summary>Reads tensor <paramref name="name"/> into a new tensor of its own dtype and shape.</summary>
    public static Tensor Read(Stream stream, Header header, string name, LoadOptions? options = null)
    {
        var entry = header.Tensors[name];
        var result = empty(entry.Shape, TorchType(entry.Dtype));
        try
        {
            ReadInto(stream, header, name, result, options);
        }
        catch
        {
            result.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>The TorchSharp element type of a safetensors dtype name.</summary>
    public static ScalarType TorchType(string dtype) => dtype switch
    {
        "BOOL" => ScalarType.Bool,
        "U8" => ScalarType.Byte,
        "I8" => ScalarType.Int8,
        "I16" => ScalarType.Int16,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I32" => ScalarType.Int32,
        "F32" => ScalarType.Float32,
        "I64" => ScalarType.Int64,
        "F64" => ScalarType.Float64,
        _ => throw new PrefixLabException($"safetensors dtype '{dtype}' has no TorchSharp counterpart"),
    };

    private static Header ParseHeader(string path, JsonObject json, long dataLength)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var (name, node) in json)
        {
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node as JsonObject ?? throw Malformed(path, "__metadata__ is not an object"))
                {
                    metadata[key] = value is JsonValue v && v.TryGetValue(out string? text) ? text : throw Malformed(path, $"metadata '{key}' is not a string");
                }
                continue;
            }
            entries[name] = ParseEntry(path, name, node);
        }
        // The offsets must tile [0, data length): sorted by start, each tensor begins where the one before ends.
        long end = 0;
        foreach (var (name, entry) in entries.OrderBy(e => e.Value.Start).ThenBy(e => e.Value.End))
        {
            if (entry.Start != end)
            {
                throw Malformed(path, $"tensor '{name}' starts at byte {entry.Start} of the data, where {end} was next ({(entry.Start < end ? "it overlaps another tensor" : "a gap")})");
            }
            end = entry.End;
        }
        if (end != dataLength)
        {
            throw Malformed(path, end > dataLength
                ? $"its tensors need {end} bytes of data but the file holds {dataLength} (truncated?)"
                : $"its tensors describe {end} bytes of data but the file holds {dataLength}");
        }
        return new Header(metadata, entries);
    }

    private static TensorEntry ParseEntry(string path, string name, JsonNode? node)
    {
        if (node is not JsonObject entry || entry.Count != 3
            || entry["dtype"] is not JsonValue dtypeNode || !dtypeNode.TryGetValue(out string? dtype)
            || entry["shape"] is not JsonArray shapeNode || entry["data_offsets"] is not JsonArray offsetNode)
        {
            throw Malformed(path, $"tensor '{name}' is not {{\"dtype\", \"shape\", \"data_offsets\"}}");
        }
        if (!DtypeSizes.TryGetValue(dtype, out int size))
        {
            throw Malformed(path, $"tensor '{name}' has unknown dtype '{dtype}'");
        }
        long[] shape = Integers(path, name, "shape", shapeNode);
        long[] offsets = Integers(path, name, "data_offsets", offsetNode);
        if (shape.Any(d => d < 0) || offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
        {
            throw Malformed(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}] and offsets [{string.Join(", ", offsets)}]: sizes must be at least 0 and offsets a [begin, end] pair");
        }
        long elements = 1, bytes;
        try
        {
            foreach (long d in shape)
            {
                elements = checked(elements * d);
            }
            bytes = checked(elements * size);
        }
        catch (OverflowException)
        {
            throw Malformed(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}], more bytes than any file holds");
        }
        if (offsets[1] - offsets[0] != bytes)
        {
            throw Malformed(path, $"tensor '{name}' ({dtype} [{string.Join(", ", shape)}]) is {bytes} bytes but its offsets span {offsets[1] - offsets[0]}");
        }
        return new TensorEntry(dtype, shape, offsets[0]) { Elements = elements, End = offsets[1] };
    }

    private static long[] Integers(string path, string name, string field, JsonArray array)
    {
        var result = new long[array.Count];
        for (int i = 0; i < result.Length; i++)
        {
            if (array[i] is not JsonValue value || !value.TryGetValue(out long n))
            {
                throw Malformed(path, $"tensor '{name}' has a {field} entry that is not a whole number");
            }
            result[i] = n;
        }
        return result;
    }

    private static void WriteFile(Stream stream, JsonObject header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The format asks for the data to start 8-byte aligned; pad the header with spaces.
        int padded = (json.Length + 7) / 8 * 8;
        stream.Write(BitConverter.GetBytes((long)padded));
        stream.Write(json);
        for (int i = json.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }
        stream.Write(data);
    }

    private static PrefixLabException Malformed(string path, string why) =>
        new($"'{path}' is not a valid safetensors file: {why}");

    /// <summary>A validated safetensors header.</summary>
    /// <param name="Metadata">The <c>__metadata__</c> strings.</param>
    /// <param name="Tensors">Each tensor's dtype and shape, by name.</param>
    /// <param name="DataStart">Byte offset in the file where the tensor data begins.</param>
    /// <param name="Path">The file, for messages.</param>
    public sealed record Header(IReadOnlyDictionary<string, string> Metadata, IReadOnlyDictionary<string, TensorEntry> Tensors, long DataStart = 0, string Path = "");

    /// <summary>One tensor of a header.</summary>
    /// <param name="Dtype">The safetensors dtype, e.g. <c>F32</c>.</param>
    /// <param name="Shape">The tensor's shape.</param>
    /// <param name="Start">Byte offset of its data from the start of the data section.</param>
    public sealed record TensorEntry(string Dtype, long[] Shape, long Start = 0)
    {
        /// <summary>Number of values (the product of the shape).</summary>
        public long Elements { get; init; } = Shape.Aggregate(1L, (a, d) => checked(a * d));

        /// <summary>Byte offset just past its data.</summary>
        public long End { get; init; }
    }
}
