using PrefixLab.Tuning;

namespace PrefixLab.Tests.Tuning;

/// <summary>Settings of a method named at run time, from the values of its knobs (as the command line gives them).</summary>
internal static class TestSettings
{
    /// <summary>Method <paramref name="method"/>'s settings with the given knob values; a value the method has no knob for is ignored.</summary>
    public static TuningSettings For(string method, int? prefixSize = null, int? rank = null, double? alpha = null, string[]? targets = null, int[]? tokens = null, double? initStd = null, int? projection = null)
    {
        var values = new Dictionary<string, object>();
        Add(values, "prefix-size", prefixSize);
        Add(values, "rank", rank);
        Add(values, "alpha", alpha);
        Add(values, "targets", targets);
        Add(values, "tokens", tokens);
        Add(values, "init-std", initStd);
        Add(values, "projection", projection);
        return TuningMethods.Get(method).Settings(values);
    }

    private static void Add(Dictionary<string, object> values, string knob, object? value)
    {
        if (value is not null)
        {
            values[knob] = value;
        }
    }
}
