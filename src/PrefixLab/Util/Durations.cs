using System.Globalization;

namespace PrefixLab.Util;

/// <summary>Short human-readable durations: <c>42s</c>, <c>3m05s</c>, <c>1h12m</c>.</summary>
public static class Durations
{
    /// <summary>Formats <paramref name="span"/> compactly.</summary>
    public static string Format(TimeSpan span)
    {
        if (span.TotalSeconds < 60)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:F0}s");
        }
        if (span.TotalHours < 1)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes}m{span.Seconds:D2}s");
        }
        return string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h{span.Minutes:D2}m");
    }
}
