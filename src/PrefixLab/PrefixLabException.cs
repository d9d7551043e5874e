namespace PrefixLab;

/// <summary>
/// An error caused by the user's input (a bad file, an unknown task, a value out of range), as opposed
/// to a bug. Its message is one line that names the problem; the command-line app prints it and exits 2.
/// </summary>
public sealed class PrefixLabException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public PrefixLabException(string message) : base(OneLine(message))
    {
    }

    /// <summary>Creates the exception with a one-line message and the low-level cause.</summary>
    public PrefixLabException(string message, Exception inner) : base(OneLine(message), inner)
    {
    }

    /// <summary>Longest message kept; a message quotes names from the user's files, which can be any length.</summary>
    public const int MaxMessageLength = 1000;

    /// <summary>Throws a <see cref="PrefixLabException"/> with <paramref name="message"/> unless <paramref name="ok"/>.</summary>
    public static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new PrefixLabException(message);
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/>; a <see cref="PrefixLabException"/> from it that does not name
    /// <paramref name="path"/> comes out prefixed with it, so the user learns which file is wrong.
    /// </summary>
    public static T InFile<T>(string path, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (PrefixLabException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
        {
            throw new PrefixLabException($"'{path}': {e.Message}", e);
        }
    }

    /// <summary>Runs <paramref name="action"/> as <see cref="InFile{T}(string, Func{T})"/> does.</summary>
    public static void InFile(string path, Action action) => InFile(path, () =>
    {
        action();
        return true;
    });

    /// <summary>
    /// <paramref name="message"/> as one printable line: messages quote names and values from the
    /// user's files, which may hold line breaks or control characters (escaped here as <c>\uXXXX</c>)
    /// or be very long (cut at <see cref="MaxMessageLength"/> characters).
    /// </summary>
    public static string OneLine(string message)
    {
        var line = new System.Text.StringBuilder(Math.Min(message.Length, MaxMessageLength + 1));
        foreach (char c in message)
        {
            if (line.Length >= MaxMessageLength)
            {
                return line.Append('…').ToString();
            }
            line.Append(char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c);
        }
        return line.ToString();
    }
}
