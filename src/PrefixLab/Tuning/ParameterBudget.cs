using PrefixLab.Model;

namespace PrefixLab.Tuning;

/// <summary>A setting of a method and its trainable-parameter count.</summary>
/// <param name="Settings">The setting.</param>
/// <param name="Count">Its trainable parameters.</param>
public sealed record BudgetPoint(TuningSettings Settings, long Count);

/// <summary>Counts trainable parameters and finds the setting of one method that matches another's count.</summary>
public static class ParameterBudget
{
    /// <summary>Trainable parameters of <paramref name="method"/> with <paramref name="settings"/> on <paramref name="model"/>.</summary>
    public static long Count(ILanguageModel model, string method, TuningSettings settings)
    {
        using var attached = TuningMethods.Create(method, model, settings);
        return attached.ParameterCount;
    }

    /// <summary>
    /// The setting of <paramref name="method"/> whose count is nearest <paramref name="target"/>, varying
    /// the method's size (<see cref="MethodKind.Size"/>: the prefix size, LoRA's rank) from 1 to
    /// <paramref name="limit"/>; ties go to the smaller setting. Exact when <see cref="BudgetPoint.Count"/>
    /// equals the target.
    /// </summary>
    public static BudgetPoint Match(ILanguageModel model, string method, TuningSettings baseSettings, long target, int limit = 4096)
    {
        var size = TuningMethods.Get(method).Size ?? throw new PrefixLabException($"method '{method}' has no size to vary");
        BudgetPoint? best = null;
        for (int n = 1; n <= limit; n++)
        {
            var settings = size.With(baseSettings, n);
            long count = Count(model, method, settings);
            if (best is null || Math.Abs(count - target) < Math.Abs(best.Count - target))
            {
                best = new BudgetPoint(settings, count);
            }
            if (count >= target)
            {
                break; // counts grow with the size
            }
        }
        return best!;
    }
}
