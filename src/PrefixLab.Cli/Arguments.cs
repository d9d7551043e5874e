using System.Globalization;

namespace PrefixLab.Cli;

/// <summary>
/// The options of one command: <c>--name value</c>, <c>--name=value</c> or a bare <c>--flag</c>. Each
/// getter checks its value and range and fails with a one-line <see cref="PrefixLabException"/>; options
/// nobody asked for are reported by <see cref="EnsureAllUsed"/>, so a typo never passes silently.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string?> values = new(StringComparer.Ordinal);
    private readonly HashSet<string> used = new(StringComparer.Ordinal);
    private readonly List<string> positional;
    private bool positionalRead;

    private Arguments(List<string> positional) => this.positional = positional;

    /// <summary>Arguments that are not options, in order; a command that never asks for them refuses any (<see cref="EnsureAllUsed"/>).</summary>
    public IReadOnlyList<string> Positional
    {
        get
        {
            positionalRead = true;
            return positional;
        }
    }

    public static Arguments Parse(IReadOnlyList<string> args)
    {
        var positional = new List<string>();
        var result = new Arguments(positional);
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                positional.Add(arg);
                continue;
            }
            string name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            if (!result.values.TryAdd(name, value))
            {
                throw new PrefixLabException($"option --{name} given twice");
            }
        }
        return result;
    }

    public bool Has(string name)
    {
        used.Add(name);
        return values.ContainsKey(name);
    }

    public string Required(string name) =>
        Optional(name) ?? throw new PrefixLabException($"missing required option --{name}");

    public string? Optional(string name)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out var value))
        {
            return null;
        }
        return value ?? throw new PrefixLabException($"option --{name} needs a value");
    }

    public bool Flag(string name)
    {
        used.Add(name);
        if (!values.TryGetValue(name, out var value))
        {
            return false;
        }
        return value switch
        {
            null or "true" => true,
            "false" => false,
            _ => throw new PrefixLabException($"option --{name} is a flag and takes no value (got '{value}')"),
        };
    }

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        (int)Long(name, fallback, min, max);

    public long Long(string name, long fallback, long min = long.MinValue, long max = long.MaxValue)
    {
        var text = Optional(name);
        if (text is null)
        {
            return fallback;
        }
        if (!long.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            throw new PrefixLabException($"option --{name} needs a whole number (got '{text}')");
        }
        return value < min || value > max
            ? throw new PrefixLabException($"option --{name} must be between {min} and {max} (got {value})")
            : value;
    }

    /// <summary>The option as a whole number in [<paramref name="min"/>, <paramref name="max"/>], or null when it is absent.</summary>
    public int? IntIfGiven(string name, int min, int max) => Has(name) ? Int(name, 0, min, max) : null;

    public ulong Seed(string name, ulong fallback) => (ulong)Long(name, (long)fallback, 0);

    /// <summary>
    /// The option as a finite number in [<paramref name="min"/>, <paramref name="max"/>]; with
    /// <paramref name="aboveMin"/> the number must be greater than <paramref name="min"/> (a rate of 0 trains nothing).
    /// </summary>
    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue, bool aboveMin = false)
    {
        var text = Optional(name);
        if (text is null)
        {
            return fallback;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            throw new PrefixLabException($"option --{name} needs a number (got '{text}')");
        }
        bool low = aboveMin ? value <= min : value < min;
        if (low || value > max)
        {
            string lower = aboveMin ? $"more than {Show(min)}" : $"at least {Show(min)}";
            string range = max == double.MaxValue ? lower : $"{lower} and at most {Show(max)}";
            throw new PrefixLabException($"option --{name} must be {range} (got {Show(value)})");
        }
        return value;
    }

    private static string Show(double value) => value.ToString("G", CultureInfo.InvariantCulture);

    /// <summary>
    /// The value of the option's word among <paramref name="choices"/>, the first being the default when the
    /// option is absent; any other word is a one-line error that lists them.
    /// </summary>
    public T Choice<T>(string name, params (string Word, T Value)[] choices)
    {
        var text = Optional(name) ?? choices[0].Word;
        foreach (var (word, value) in choices)
        {
            if (word == text)
            {
                return value;
            }
        }
        var words = choices.Select(c => c.Word).ToList();
        throw new PrefixLabException($"--{name} must be {string.Join(", ", words[..^1])} or {words[^1]} (got '{text}')");
    }

    /// <summary>Fails on any option the command did not read, and on words outside options when it reads none.</summary>
    public void EnsureAllUsed()
    {
        if (!positionalRead && positional.Count > 0)
        {
            throw new PrefixLabException($"unexpected argument '{positional[0]}': this command takes only --options (quote a value that has spaces)");
        }
        var unknown = values.Keys.Where(k => !used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new PrefixLabException($"unknown option --{unknown[0]}");
        }
    }
}
