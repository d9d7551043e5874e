using System.IO.Compression;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// A dict of tensors saved by <c>torch.save</c> since PyTorch 1.6 (Hugging Face's
/// <c>pytorch_model.bin</c>, PEFT's <c>adapter_model.bin</c>): a zip archive with
/// <c>NAME/data.pkl</c>, a pickle of the dict whose tensors point at storages, and
/// <c>NAME/data/KEY</c>, each storage's raw little-endian bytes. The pickle is read by
/// <see cref="TorchPickle"/>, which runs no code; this class turns its storages and tensor views into
/// checked references and reads a tensor only when asked. Each storage of N elements must be an entry
/// of exactly N × element-size bytes, and each view must lie inside its storage.
/// </summary>
public sealed class TorchZipCheckpoint : ITensorFile
{
    private readonly ZipArchive _archive;
    private readonly Dictionary<string, View> _views;

    private TorchZipCheckpoint(string path, ZipArchive archive, Dictionary<string, View> views)
    {
        Path = path;
        _archive = archive;
        _views = views;
        Tensors = views.ToDictionary(kv => kv.Key, kv => new TensorShape(kv.Value.Storage.Dtype, kv.Value.Shape), StringComparer.Ordinal);
    }

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, TensorShape> Tensors { get; }

    /// <summary>Opens <paramref name="path"/> and reads its pickle; the tensors are read later, one at a time.</summary>
    public static TorchZipCheckpoint Open(string path)
    {
        PrefixLabException.Check(File.Exists(path), $"file not found: '{path}'");
        var stream = File.OpenRead(path);
        try
        {
            CheckSignature(path, stream);
            var archive = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: false);
            try
            {
                return new TorchZipCheckpoint(path, archive, ReadViews(path, archive, stream.Length));
            }
            catch
            {
                archive.Dispose();
                throw;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            stream.Dispose();
            throw Bad(path, $"the zip archive is damaged or truncated ({e.Message.Split('\n')[0]})");
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public Tensor Read(string name)
    {
        var view = _views[name];
        var storage = view.Storage;
        using var scope = NewDisposeScope();
        if (view.IsContiguous)
        {
            var result = empty(view.Shape, storage.Dtype);
            ReadBytes(view, result);
            return result.MoveToOuterDisposeScope();
        }
        var data = empty([storage.Count], storage.Dtype);
        ReadBytes(new View(storage, 0, [storage.Count], [1]), data);
        // A copy, not a view: two tensors that shared a storage (a tied head) come back independent.
        return data.as_strided(view.Shape, view.Stride, view.Offset).clone().MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void ReadInto(string name, Tensor destination)
    {
        var view = _views[name];
        if (view.IsContiguous && destination.dtype == view.Storage.Dtype && destination.is_contiguous() && destination.numel() == view.Shape.Aggregate(1L, (a, d) => a * d))
        {
            ReadBytes(view, destination); // straight into the destination's memory: no second copy
            return;
        }
        using var read = Read(name);
        destination.copy_(read.view(destination.shape));
    }

    /// <inheritdoc/>
    public void Dispose() => _archive.Dispose();

    private static void CheckSignature(string path, FileStream stream)
    {
        Span<byte> head = stackalloc byte[4];
        int read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        if (read == 4 && head.SequenceEqual("PK\u0003\u0004"u8))
        {
            return;
        }
        throw Bad(path, read > 0 && head[0] == 0x80
            ? "it is in torch.save's legacy format (PyTorch before 1.6, or _use_new_zipfile_serialization=False); save it again with a current torch.save, or as safetensors"
            : "it is not a zip archive");
    }

    private static Dictionary<string, View> ReadViews(string path, ZipArchive archive, long fileLength)
    {
        var pickles = archive.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
        PrefixLabException.Check(pickles.Count == 1, $"'{path}' is not a torch.save archive: it has {pickles.Count} NAME/data.pkl entries, not one");
        var pickle = pickles[0];
        string prefix = pickle.FullName[..^"data.pkl".Length];
        var byteOrder = archive.GetEntry(prefix + "byteorder");
        if (byteOrder is not null)
        {
            string order = System.Text.Encoding.ASCII.GetString(ReadEntry(path, byteOrder, fileLength)).Trim();
            PrefixLabException.Check(order == "little", $"'{path}' was saved on a {order}-endian machine; PrefixLab reads little-endian storages");
        }
        var host = new Host(path, archive, prefix, fileLength);
        var root = TorchPickle.Load(ReadEntry(path, pickle, fileLength), path, host);
        if (root is not TorchPickle.Dict dict)
        {
            throw Bad(path, $"it holds a {TorchPickle.Describe(root)}, not a dict of tensors (a state_dict)");
        }
        var views = new Dictionary<string, View>(StringComparer.Ordinal);
        foreach (var (key, value) in dict)
        {
            if (key is not string name || value is not View view)
            {
                throw Bad(path, $"entry '{key}' is a {TorchPickle.Describe(value)}, not a tensor; PrefixLab reads dicts of tensors (a state_dict)");
            }
            views[name] = view;
        }
        return views;
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, long fileLength)
    {
        // The entry's declared size is only a claim: bound it by the file, so a forged size allocates nothing big.
        PrefixLabException.Check(entry.Length <= fileLength && entry.Length <= Array.MaxLength, $"'{path}': entry '{entry.FullName}' claims {entry.Length} bytes, more than the file holds");
        var bytes = new byte[entry.Length];
        using var stream = entry.Open();
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Reads contiguous <paramref name="view"/>'s bytes from its storage entry into <paramref name="destination"/>.</summary>
    private void ReadBytes(View view, Tensor destination)
    {
        var entry = view.Storage.Entry;
        try
        {
            using var stream = entry.Open();
            long skip = view.Offset * ElementSize(view.Storage.Dtype);
            var buffer = new byte[(int)Math.Min(skip, 1 << 16)];
            while (skip > 0)
            {
                int read = stream.Read(buffer, 0, (int)Math.Min(skip, buffer.Length));
                skip -= read > 0 ? read : throw new EndOfStreamException();
            }
            stream.ReadExactly(destination.bytes);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw Bad(Path, $"storage '{entry.FullName}' cannot be read ({e.Message.Split('\n')[0]})");
        }
    }

    private static long ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    private static PrefixLabException Bad(string path, string why) => new($"'{path}' is not a readable PyTorch checkpoint: {why}");

    /// <summary>A storage of the archive: <see cref="Count"/> elements of <see cref="Dtype"/>.</summary>
    private sealed record Storage(ZipArchiveEntry Entry, ScalarType Dtype, long Count);

    /// <summary>A tensor: a strided view of a storage.</summary>
    private sealed record View(Storage Storage, long Offset, long[] Shape, long[] Stride)
    {
        /// <summary>Whether the view is one run of the storage in row-major order, readable straight from the entry.</summary>
        public bool IsContiguous
        {
            get
            {
                long expected = 1;
                for (int i = Shape.Length - 1; i >= 0; i--)
                {
                    if (Shape[i] != 1 && Stride[i] != expected)
                    {
                        return false;
                    }
                    expected *= Shape[i];
                }
                return true;
            }
        }
    }

    /// <summary>Turns the pickle's storage ids and rebuild calls into checked storages and views.</summary>
    private sealed class Host(string path, ZipArchive archive, string prefix, long fileLength) : TorchPickle.IHost
    {
        private readonly Dictionary<string, Storage> _storages = new(StringComparer.Ordinal);

        public object PersistentLoad(object? id)
        {
            // torch.save's id: ('storage', torch.FloatStorage, key, location, element count)
            if (id is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not TorchPickle.Global type || t[2] is not string key || t[4] is not long count)
            {
                throw Bad(path, "a persistent id is not torch.save's ('storage', type, key, location, size)");
            }
            if (!type.FullName.StartsWith("torch.", StringComparison.Ordinal) || !TorchPickle.StorageTypes.TryGetValue(type.FullName["torch.".Length..], out var dtype))
            {
                throw Bad(path, $"'{type.FullName}' stands where a storage type should");
            }
            if (_storages.TryGetValue(key, out var known))
            {
                PrefixLabException.Check(known.Dtype == dtype && known.Count == count, $"'{path}': storage '{key}' is described twice, differently");
                return known;
            }
            var entry = archive.GetEntry($"{prefix}data/{key}") ?? throw Bad(path, $"storage '{prefix}data/{key}' is missing from the archive (truncated or damaged?)");
            long size = ElementSize(dtype);
            PrefixLabException.Check(count >= 0 && count <= fileLength / size, $"'{path}': storage '{key}' claims {count} elements, more than the file holds");
            PrefixLabException.Check(entry.Length == count * size,
                $"'{path}': storage '{entry.FullName}' should hold {count} {dtype} values ({count * size} bytes) but has {entry.Length} bytes (truncated or damaged?)");
            var storage = new Storage(entry, dtype, count);
            _storages[key] = storage;
            return storage;
        }

        public object Call(string function, object?[] args)
        {
            if (function == "torch._utils._rebuild_parameter")
            {
                // (data, requires_grad, backward_hooks): a Parameter is its tensor here
                return args is [View data, ..] ? data : throw Bad(path, "_rebuild_parameter is called without a tensor");
            }
            // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (args is not [Storage storage, long offset, object?[] size, object?[] stride, bool, ..] || args.Length > 7 || size.Length != stride.Length)
            {
                throw Bad(path, "a tensor's _rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
            }
            long[] shape = Longs(size);
            long[] strides = Longs(stride);
            PrefixLabException.Check(offset >= 0 && shape.All(d => d >= 0) && strides.All(s => s >= 0) && shape.Length <= 64, $"'{path}': a tensor has a negative offset, size or stride");
            try
            {
                // The last element the view touches must lie inside the storage.
                long last = shape.Any(d => d == 0) ? -1 : checked(offset + shape.Zip(strides, (d, s) => (d - 1) * s).Sum());
                PrefixLabException.Check(last < storage.Count, $"'{path}': a tensor of shape [{string.Join(", ", shape)}] reaches element {last} of storage '{storage.Entry.FullName}', which has {storage.Count}");
            }
            catch (OverflowException)
            {
                throw Bad(path, "a tensor's size overflows");
            }
            return new View(storage, offset, shape, strides);
        }

        private long[] Longs(object?[] values) =>
            [.. values.Select(v => v is long l ? l : throw Bad(path, $"a tensor's size or stride holds a {TorchPickle.Describe(v)}"))];
    }
}
