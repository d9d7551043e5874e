namespace PrefixLab.Experiments;

/// <summary>
/// The 95% intervals the rules decide on. Two sources of error are combined: the spread over seeds
/// (a Student-t interval of the mean, <c>t(K−1) · s / √K</c>, for K ≥ 2 seeds) and, for an accuracy, the
/// sampling error of its test samples (a Wilson score interval of the accuracy pooled over the K seeds'
/// test samples). Each side's half-widths are added in quadrature. The seed term already carries some
/// sampling error, so the sum counts it twice: the interval errs on the wide side, which makes a rule
/// that holds hold with room to spare. With one seed only the sampling term is left; a measurement
/// without a sampling model (an identity error, a spread, a count) then has the value itself as its interval.
/// </summary>
public static class Intervals
{
    /// <summary>The normal quantile of a two-sided 95% interval.</summary>
    public const double Z = 1.959963984540054;

    // Two-sided 95% quantiles of Student's t for 1 to 30 degrees of freedom.
    private static readonly double[] T975 =
    [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];

    /// <summary>The two-sided 95% quantile of Student's t with <paramref name="df"/> degrees of freedom.</summary>
    public static double T(int df)
    {
        PrefixLabException.Check(df >= 1, $"a t quantile needs at least 1 degree of freedom (got {df})");
        if (df <= T975.Length)
        {
            return T975[df - 1];
        }
        // Past 30 the Cornish–Fisher expansion is within 1e-4 of the exact quantile.
        double z = Z, z3 = z * z * z, z5 = z3 * z * z;
        return z + ((z3 + z) / (4.0 * df)) + (((5 * z5) + (16 * z3) + (3 * z)) / (96.0 * df * df));
    }

    /// <summary>
    /// The Wilson score interval (95%) of <paramref name="successes"/> out of <paramref name="trials"/>, as
    /// fractions; unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or at all.
    /// </summary>
    public static (double Low, double High) Wilson(double successes, double trials)
    {
        PrefixLabException.Check(trials > 0 && successes >= 0 && successes <= trials, $"a binomial interval needs 0 ≤ successes ≤ trials > 0 (got {successes} of {trials})");
        double p = successes / trials, z2 = Z * Z;
        double centre = (p + (z2 / (2 * trials))) / (1 + (z2 / trials));
        double half = Z * Math.Sqrt((p * (1 - p) / trials) + (z2 / (4 * trials * trials))) / (1 + (z2 / trials));
        return (Math.Max(centre - half, 0), Math.Min(centre + half, 1));
    }

    /// <summary>Half-width of the t-interval of the mean of <paramref name="values"/> (0 for one value).</summary>
    public static double SeedHalfWidth(IReadOnlyList<double> values)
    {
        if (values.Count < 2)
        {
            return 0;
        }
        double mean = values.Average();
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return T(values.Count - 1) * std / Math.Sqrt(values.Count);
    }

    /// <summary>
    /// How far below and above the mean the sampling interval of an accuracy reaches: <paramref name="values"/>
    /// in percent, each over <paramref name="trials"/> test samples (none: no sampling term).
    /// </summary>
    public static (double Below, double Above) SamplingHalfWidths(IReadOnlyList<double> values, int? trials)
    {
        if (trials is not int n || n <= 0)
        {
            return (0, 0);
        }
        // Pooled over the seeds: Σ correct answers out of K · n samples.
        double correct = values.Sum(v => Math.Round(v / 100 * n));
        double total = (double)n * values.Count;
        var (low, high) = Wilson(Math.Clamp(correct, 0, total), total);
        double mean = values.Average();
        return (Math.Max(mean - (100 * low), 0), Math.Max((100 * high) - mean, 0));
    }

    /// <summary>The 95% interval of the mean of <paramref name="values"/>; an accuracy over <paramref name="trials"/> samples stays within [0, 100].</summary>
    public static (double Low, double High) Of(IReadOnlyList<double> values, int? trials)
    {
        double mean = values.Average(), seed = SeedHalfWidth(values);
        var (below, above) = SamplingHalfWidths(values, trials);
        double low = mean - Math.Sqrt((seed * seed) + (below * below));
        double high = mean + Math.Sqrt((seed * seed) + (above * above));
        return trials is null ? (low, high) : (Math.Max(low, 0), Math.Min(high, 100));
    }

    /// <summary>
    /// The 95% interval of the mean difference <c>a − b</c>: the seed term from the per-seed differences
    /// (both come from the same seed's base model, so they are paired), and each side's sampling terms.
    /// </summary>
    public static (double Low, double High) OfDifference(MetricSummary a, MetricSummary b)
    {
        var seed = a.Values.Count == b.Values.Count
            ? SeedHalfWidth([.. a.Values.Zip(b.Values, (x, y) => x - y)])
            : Math.Sqrt(Math.Pow(SeedHalfWidth(a.Values), 2) + Math.Pow(SeedHalfWidth(b.Values), 2));
        var (aBelow, aAbove) = SamplingHalfWidths(a.Values, a.Trials);
        var (bBelow, bAbove) = SamplingHalfWidths(b.Values, b.Trials);
        double mean = a.Mean - b.Mean;
        return (mean - Math.Sqrt((seed * seed) + (aBelow * aBelow) + (bAbove * bAbove)),
                mean + Math.Sqrt((seed * seed) + (aAbove * aAbove) + (bBelow * bBelow)));
    }
}
