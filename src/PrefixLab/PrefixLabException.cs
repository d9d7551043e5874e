namespace PrefixLab;

/// <summary>
/// An error caused by the user's input (a bad file, an unknown task, a value out of range), as opposed
/// to a bug. Its message is one line that names the problem; the command-line app prints it and exits 2.
/// </summary>
public sealed class PrefixLabException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public PrefixLabException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a one-line message and the low-level cause.</summary>
    public PrefixLabException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Throws a <see cref="PrefixLabException"/> with <paramref name="message"/> unless <paramref name="ok"/>.</summary>
    public static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new PrefixLabException(message);
        }
    }
}
