using System.Text;
using PrefixLab.Interop;

namespace PrefixLab.Tests.Interop;

/// <summary>The restricted pickle reader on hand-assembled pickles: what it builds and what it refuses.</summary>
public class TorchPickleTests
{
    /// <summary>A host for pickles without tensors: any storage or tensor call is a test failure.</summary>
    private sealed class NoTensors : TorchPickle.IHost
    {
        public List<string> Calls { get; } = [];

        public object PersistentLoad(object? id) => throw new InvalidOperationException("no storages here");

        public object Call(string function, object?[] args)
        {
            Calls.Add(function);
            return "tensor";
        }
    }

    private static byte[] Pickle(params object[] parts) =>
        [.. parts.SelectMany(p => p switch
        {
            char c => [(byte)c],
            int b => [(byte)b],
            string s => Encoding.UTF8.GetBytes(s),
            byte[] bytes => bytes,
            _ => throw new ArgumentException("part"),
        })];

    private static byte[] Unicode(string text) => [(byte)'X', .. BitConverter.GetBytes(Encoding.UTF8.GetByteCount(text)), .. Encoding.UTF8.GetBytes(text)];

    [Fact]
    public void Plain_values_and_an_ordered_dict_are_built_in_order()
    {
        // OrderedDict({'b': [1, -2, 300000], 'a': (None, True, 2.5)}), memoised and fetched back as torch.save does
        var data = Pickle(0x80, 2, 'c', "collections\nOrderedDict\n", ')', 'R', 'q', 0, '(',
            Unicode("b"), ']', 'q', 1, '(', 'K', 1, 'J', BitConverter.GetBytes(-2), 'J', BitConverter.GetBytes(300000), 'e',
            Unicode("a"), 'N', 0x88, 'G', BitConverter.GetBytes(2.5).Reverse().ToArray(), 0x87,
            'u', '}', 'b', '.');
        var dict = Assert.IsType<TorchPickle.Dict>(TorchPickle.Load(data, "t.pkl", new NoTensors()));
        Assert.Equal(["b", "a"], dict.Keys);
        Assert.Equal([1L, -2L, 300000L], Assert.IsType<List<object?>>(dict["b"]));
        Assert.Equal([null, true, 2.5], Assert.IsType<object?[]>(dict["a"]));
    }

    [Fact]
    public void Only_the_tensor_functions_reach_the_host()
    {
        var host = new NoTensors();
        var data = Pickle(0x80, 2, 'c', "torch._utils\n_rebuild_tensor_v2\n", ')', 'R', '.');
        Assert.Equal("tensor", TorchPickle.Load(data, "t.pkl", host));
        Assert.Equal(["torch._utils._rebuild_tensor_v2"], host.Calls);

        data = Pickle(0x80, 2, 'c', "torch\nFloatStorage\n", ')', 'R', '.');
        Assert.Contains("calls 'torch.FloatStorage', which is a type", Assert.Throws<PrefixLabException>(() => TorchPickle.Load(data, "t.pkl", host)).Message);
    }

    [Theory]
    [InlineData("GLOBAL", "os.system")]
    [InlineData("GLOBAL", "builtins.eval")]
    [InlineData("GLOBAL", "torch.load")]
    [InlineData("STACK_GLOBAL", "subprocess.Popen")]
    [InlineData("STACK_GLOBAL", "torch._utils._rebuild_device_tensor_from_numpy")]
    public void Any_other_global_is_refused_by_name_before_it_is_called(string opcode, string global)
    {
        int dot = global.LastIndexOf('.');
        var (module, name) = (global[..dot], global[(dot + 1)..]);
        var named = opcode == "GLOBAL"
            ? Pickle('c', $"{module}\n{name}\n")
            : Pickle(0x8c, module.Length, module, 0x8c, name.Length, name, 0x93);
        var host = new NoTensors();
        var data = Pickle(0x80, 4, named, '(', Unicode("touch MARKER"), 't', 'R', '.');
        var e = Assert.Throws<PrefixLabException>(() => TorchPickle.Load(data, "evil.pkl", host));
        Assert.Equal($"'evil.pkl': refused: its pickle names the global '{global}', which a file of tensors never needs (PrefixLab builds only tensors, dicts, lists and tuples, and calls nothing else)", e.Message);
        Assert.Empty(host.Calls);
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0x7f, (byte)'.' }, "a string of 2147483647 bytes at byte 7 runs past the pickle's end")]
    [InlineData(new byte[] { 0x80, 2, (byte)'K' }, "the pickle ends inside an opcode at byte 3 (truncated?)")]
    [InlineData(new byte[] { 0x80, 2, (byte)'h', 5, (byte)'.' }, "memo entry 5 is read before it is written")]
    [InlineData(new byte[] { 0x80, 2, (byte)'N', (byte)'N', (byte)'.' }, "the pickle ends with a malformed stack")]
    [InlineData(new byte[] { 0x80, 2, (byte)'t', (byte)'.' }, "an opcode needs a MARK the stack does not have")]
    [InlineData(new byte[] { 0x80, 2, (byte)']', (byte)'N', (byte)'N', (byte)'s', (byte)'.' }, "SETITEM at byte 5 meets a list")]
    [InlineData(new byte[] { 0x80, 2, (byte)'N', (byte)')', (byte)'R', (byte)'.' }, "REDUCE at byte 4 meets a None")]
    [InlineData(new byte[] { 0x80, 2, (byte)'c', (byte)'o', (byte)'s' }, "a global's name at byte 3 is unterminated")]
    public void Malformed_pickles_are_refused_with_one_line(byte[] data, string expected)
    {
        var e = Assert.Throws<PrefixLabException>(() => TorchPickle.Load(data, "bad.pkl", new NoTensors()));
        Assert.Equal($"'bad.pkl' is not a readable PyTorch checkpoint: {expected}", e.Message);
    }
}
