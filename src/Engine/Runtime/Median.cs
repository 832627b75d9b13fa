namespace LlmCpu.Engine.Runtime;

/// <summary>The median of repeated measurements, the figure a drifting machine disturbs least.</summary>
internal static class Median
{
    /// <summary>The middle value (the mean of the middle two for an even count).</summary>
    public static double Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
