using System.Buffers.Binary;
using System.Text;

namespace PrefixLab.Interop;

/// <summary>
/// A restricted pickle reader for the <c>data.pkl</c> of a <c>torch.save</c> archive. Python's
/// unpickler calls whatever global a pickle names, so a pickle can run any code (<c>os.system</c>);
/// this one is a small stack machine over the opcodes <c>torch.save</c> emits (protocol 2, plus the few
/// protocol 4 adds) that builds only plain values (None, bool, int, float, str, tuple, list, dict) and
/// knows a fixed list of globals: <c>collections.OrderedDict</c>, the tensor rebuild functions and the
/// storage types. Any other global is refused when it is named, before anything could call it, and the
/// rebuild functions are not run here: <see cref="IHost"/> turns their arguments into tensor references.
/// Every length is checked against the bytes that are really there.
/// </summary>
internal static class TorchPickle
{
    /// <summary>The storage types <c>torch.save</c> names, with their element types.</summary>
    public static readonly IReadOnlyDictionary<string, TorchSharp.torch.ScalarType> StorageTypes = new Dictionary<string, TorchSharp.torch.ScalarType>(StringComparer.Ordinal)
    {
        ["DoubleStorage"] = TorchSharp.torch.ScalarType.Float64,
        ["FloatStorage"] = TorchSharp.torch.ScalarType.Float32,
        ["HalfStorage"] = TorchSharp.torch.ScalarType.Float16,
        ["BFloat16Storage"] = TorchSharp.torch.ScalarType.BFloat16,
        ["LongStorage"] = TorchSharp.torch.ScalarType.Int64,
        ["IntStorage"] = TorchSharp.torch.ScalarType.Int32,
        ["ShortStorage"] = TorchSharp.torch.ScalarType.Int16,
        ["CharStorage"] = TorchSharp.torch.ScalarType.Int8,
        ["ByteStorage"] = TorchSharp.torch.ScalarType.Byte,
        ["BoolStorage"] = TorchSharp.torch.ScalarType.Bool,
    };

    /// <summary>The functions a tensor pickle calls: the host builds what they stand for.</summary>
    public static readonly IReadOnlySet<string> TensorFunctions = new HashSet<string>(StringComparer.Ordinal)
    {
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
    };

    private const string OrderedDict = "collections.OrderedDict";

    /// <summary>What the reader hands the archive: storages and tensors, which live outside the pickle.</summary>
    public interface IHost
    {
        /// <summary>The object a <c>BINPERSID</c> id stands for (torch: a storage in the archive).</summary>
        object PersistentLoad(object? id);

        /// <summary>The result of calling one of <see cref="TensorFunctions"/> with <paramref name="args"/>.</summary>
        object Call(string function, object?[] args);
    }

    /// <summary>A global the pickle named; one of the allowed ones, or reading would have stopped.</summary>
    /// <param name="FullName">module.name, e.g. <c>torch.FloatStorage</c>.</param>
    public sealed record Global(string FullName);

    /// <summary>A Python dict or OrderedDict, in insertion order.</summary>
    public sealed class Dict : OrderedDictionary<object, object?>;

    /// <summary>
    /// Runs the pickle in <paramref name="data"/> and returns its value. <paramref name="source"/> names
    /// the file in error messages.
    /// </summary>
    public static object? Load(byte[] data, string source, IHost host) => new Machine(data, source, host).Run();

    private sealed class Mark;

    private sealed class Machine(byte[] data, string source, IHost host)
    {
        private static readonly Mark MarkObject = new();
        private readonly List<object?> _stack = [];
        private readonly Dictionary<long, object?> _memo = [];
        private int _position;

        public object? Run()
        {
            while (true)
            {
                int at = _position;
                byte op = Bytes(1)[0];
                switch (op)
                {
                    case 0x80: // PROTO
                        byte protocol = Bytes(1)[0];
                        Check(protocol <= 5, $"pickle protocol {protocol} is unknown");
                        break;
                    case 0x95: // FRAME: a length hint; the opcodes follow inline
                        Bytes(8);
                        break;
                    case (byte)'.': // STOP
                        Check(_stack.Count == 1, "the pickle ends with a malformed stack");
                        return _stack[0];
                    case (byte)'(':
                        _stack.Add(MarkObject);
                        break;
                    case (byte)')':
                        _stack.Add(Array.Empty<object?>());
                        break;
                    case (byte)'t':
                        _stack.Add(PopToMark().ToArray());
                        break;
                    case 0x85 or 0x86 or 0x87: // TUPLE1..3
                        _stack.Add(PopMany(op - 0x84).ToArray());
                        break;
                    case (byte)']':
                        _stack.Add(new List<object?>());
                        break;
                    case (byte)'l':
                        _stack.Add(PopToMark());
                        break;
                    case (byte)'a':
                        var item = Pop();
                        As<List<object?>>(Top(), "APPEND").Add(item);
                        break;
                    case (byte)'e':
                        var items = PopToMark();
                        As<List<object?>>(Top(), "APPENDS").AddRange(items);
                        break;
                    case (byte)'}':
                        _stack.Add(new Dict());
                        break;
                    case (byte)'d':
                        var dict = new Dict();
                        SetItems(dict, PopToMark());
                        _stack.Add(dict);
                        break;
                    case (byte)'s':
                        var pair = PopMany(2);
                        SetItems(As<Dict>(Top(), "SETITEM"), pair);
                        break;
                    case (byte)'u':
                        var pairs = PopToMark();
                        SetItems(As<Dict>(Top(), "SETITEMS"), pairs);
                        break;
                    case (byte)'N':
                        _stack.Add(null);
                        break;
                    case 0x88 or 0x89: // NEWTRUE, NEWFALSE
                        _stack.Add(op == 0x88);
                        break;
                    case (byte)'J':
                        _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4)));
                        break;
                    case (byte)'K':
                        _stack.Add((long)Bytes(1)[0]);
                        break;
                    case (byte)'M':
                        _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2)));
                        break;
                    case 0x8a: // LONG1: a little-endian two's-complement integer of n bytes
                        _stack.Add(Long1(Bytes(Bytes(1)[0])));
                        break;
                    case (byte)'G':
                        _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8)));
                        break;
                    case (byte)'X':
                        _stack.Add(Text(Length(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)))));
                        break;
                    case 0x8c: // SHORT_BINUNICODE
                        _stack.Add(Text(Bytes(1)[0]));
                        break;
                    case (byte)'c': // GLOBAL "module\nname\n"
                        string module = Line();
                        _stack.Add(Allowed(module, Line()));
                        break;
                    case 0x93: // STACK_GLOBAL
                        var names = PopMany(2);
                        _stack.Add(Allowed(As<string>(names[0], "STACK_GLOBAL"), As<string>(names[1], "STACK_GLOBAL")));
                        break;
                    case (byte)'Q': // BINPERSID
                        _stack.Add(host.PersistentLoad(Pop()));
                        break;
                    case (byte)'R':
                        var args = As<object?[]>(Pop(), "REDUCE");
                        var callable = As<Global>(Pop(), "REDUCE");
                        _stack.Add(Reduce(callable, args));
                        break;
                    case (byte)'b': // BUILD: an OrderedDict's attributes (state_dict's _metadata), not needed
                        Pop();
                        _ = As<Dict>(Top(), "BUILD");
                        break;
                    case (byte)'q':
                        _memo[Bytes(1)[0]] = Top();
                        break;
                    case (byte)'r':
                        _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = Top();
                        break;
                    case 0x94: // MEMOIZE
                        _memo[_memo.Count] = Top();
                        break;
                    case (byte)'h':
                        _stack.Add(Memo(Bytes(1)[0]));
                        break;
                    case (byte)'j':
                        _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))));
                        break;
                    default:
                        throw Bad($"opcode 0x{op:x2} at byte {at} is not one that torch.save writes");
                }
            }
        }

        private Global Allowed(string module, string name)
        {
            string full = $"{module}.{name}";
            bool allowed = full == OrderedDict || TensorFunctions.Contains(full) || (module == "torch" && StorageTypes.ContainsKey(name));
            if (!allowed)
            {
                // Named, not called: refusing here means no part of the payload has run.
                throw new PrefixLabException($"'{source}': refused: its pickle names the global '{full}', which a file of tensors never needs (PrefixLab builds only tensors, dicts, lists and tuples, and calls nothing else)");
            }
            return new Global(full);
        }

        private object Reduce(Global callable, object?[] args)
        {
            if (callable.FullName == OrderedDict)
            {
                Check(args.Length == 0, "OrderedDict is called with arguments");
                return new Dict();
            }
            Check(TensorFunctions.Contains(callable.FullName), $"the pickle calls '{callable.FullName}', which is a type, not a function");
            return host.Call(callable.FullName, args);
        }

        private void SetItems(Dict dict, List<object?> flat)
        {
            Check(flat.Count % 2 == 0, "a dict has a key without a value");
            for (int i = 0; i < flat.Count; i += 2)
            {
                var key = flat[i];
                Check(key is string or long, "a dict key is not a string or an integer");
                dict[key!] = flat[i + 1];
            }
        }

        private ReadOnlySpan<byte> Bytes(int count)
        {
            Check(count <= data.Length - _position, $"the pickle ends inside an opcode at byte {_position} (truncated?)");
            var span = data.AsSpan(_position, count);
            _position += count;
            return span;
        }

        private int Length(uint length)
        {
            Check(length <= data.Length - _position, $"a string of {length} bytes at byte {_position} runs past the pickle's end");
            return (int)length;
        }

        private string Text(int length)
        {
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Bytes(length));
            }
            catch (DecoderFallbackException)
            {
                throw Bad($"a string at byte {_position - length} is not UTF-8");
            }
        }

        private string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', _position);
            Check(end >= 0 && end - _position <= 256, $"a global's name at byte {_position} is unterminated");
            string text = Encoding.ASCII.GetString(data, _position, end - _position);
            _position = end + 1;
            return text;
        }

        private long Long1(ReadOnlySpan<byte> bytes)
        {
            Check(bytes.Length <= 8, "an integer is wider than 64 bits");
            long value = 0;
            for (int i = bytes.Length - 1; i >= 0; i--)
            {
                value = (value << 8) | bytes[i];
            }
            int unused = 64 - (8 * bytes.Length);
            return bytes.Length == 0 ? 0 : (value << unused) >> unused; // sign-extend
        }

        private object? Memo(long index)
        {
            Check(_memo.TryGetValue(index, out var value), $"memo entry {index} is read before it is written");
            return value;
        }

        private object? Top()
        {
            Check(_stack.Count > 0 && _stack[^1] is not Mark, "an opcode needs a value the stack does not have");
            return _stack[^1];
        }

        private object? Pop()
        {
            var value = Top();
            _stack.RemoveAt(_stack.Count - 1);
            return value;
        }

        private List<object?> PopMany(int count)
        {
            Check(_stack.Count >= count && _stack.Skip(_stack.Count - count).All(v => v is not Mark), "an opcode needs values the stack does not have");
            var values = _stack.GetRange(_stack.Count - count, count);
            _stack.RemoveRange(_stack.Count - count, count);
            return values;
        }

        private List<object?> PopToMark()
        {
            int mark = _stack.FindLastIndex(v => v is Mark);
            Check(mark >= 0, "an opcode needs a MARK the stack does not have");
            var values = _stack.GetRange(mark + 1, _stack.Count - mark - 1);
            _stack.RemoveRange(mark, _stack.Count - mark);
            return values;
        }

        private T As<T>(object? value, string opcode) =>
            value is T typed ? typed : throw Bad($"{opcode} at byte {_position - 1} meets a {Describe(value)}");

        private void Check(bool ok, string why)
        {
            if (!ok)
            {
                throw Bad(why);
            }
        }

        private PrefixLabException Bad(string why) => new($"'{source}' is not a readable PyTorch checkpoint: {why}");
    }

    /// <summary>A short Python-ish name of a value's type, for messages.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        string => "str",
        long => "int",
        bool => "bool",
        double => "float",
        object?[] => "tuple",
        List<object?> => "list",
        Dict => "dict",
        Global g => g.FullName,
        _ => value.GetType().Name,
    };
}
