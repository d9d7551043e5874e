namespace PrefixLab.Cli;

/// <summary>One subcommand of <c>prefixlab</c>: parse its options, call the library, print.</summary>
internal interface ICommand
{
    string Name { get; }

    string Summary { get; }

    string Usage { get; }

    int Run(Arguments args);
}
