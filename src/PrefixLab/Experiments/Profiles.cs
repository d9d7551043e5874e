namespace PrefixLab.Experiments;

/// <summary>
/// How large a reproduction is. Specs size their step counts and models per profile
/// (<see cref="Sized{T}"/>); the profile itself sets what every experiment shares.
/// </summary>
/// <param name="Name">smoke, quick or paper.</param>
/// <param name="EvalSamples">Test samples per accuracy (the paper: 3,200).</param>
/// <param name="AnalysisSamples">Test sequences for the attention analyses (identities, spread, shift).</param>
/// <param name="Purpose">What the profile is for, as the report says it.</param>
public sealed record Profile(string Name, int EvalSamples, int AnalysisSamples, string Purpose);

/// <summary>The three profiles of <c>prefixlab reproduce</c>.</summary>
public static class Profiles
{
    /// <summary>Name of the pipeline check.</summary>
    public const string Smoke = "smoke";

    /// <summary>Name of the default profile.</summary>
    public const string Quick = "quick";

    /// <summary>Name of the paper's sizes.</summary>
    public const string Paper = "paper";

    /// <summary>Every profile, by name.</summary>
    public static IReadOnlyList<Profile> All { get; } =
    [
        new(Smoke, 32, 4, "checks the pipeline in a few minutes; its numbers decide nothing"),
        new(Quick, 500, 32, "scaled down to decide every claim over 3 seeds on a 2-core CPU; reproduce --plan estimates its time"),
        new(Paper, 3200, 64, "the paper's sizes and steps (paper.md §3)"),
    ];

    /// <summary>
    /// Seeds <c>reproduce</c> runs per experiment unless told otherwise: 3 for quick, whose verdicts rest
    /// on 95% intervals over seeds; 1 for smoke, which decides nothing and is what the tests run; 1 for
    /// paper, whose single seed takes days on one machine (a cluster run asks for more with --seeds).
    /// </summary>
    public static int DefaultSeeds(Profile profile) => profile.Name == Quick ? 3 : 1;

    /// <summary>The profile called <paramref name="name"/>.</summary>
    public static Profile Get(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new PrefixLabException($"unknown profile '{name}' (known: {string.Join(", ", All.Select(p => p.Name))})");
}
