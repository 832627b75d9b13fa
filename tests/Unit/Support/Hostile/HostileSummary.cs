namespace LlmCpu.Tests.Support.Hostile;

/// <summary>What a hostile-input run saw: outcomes by kind, the slowest case, the largest allocation against its input.</summary>
public sealed class HostileSummary(string reader)
{
    public string Reader { get; } = reader;

    public int Cases { get; private set; }

    public int Loaded { get; set; }

    /// <summary>Loaded cases that were then used without error.</summary>
    public int Used { get; set; }

    /// <summary>Loaded cases whose use ended in an expected error (a non-finite result, an argument the model cannot take).</summary>
    public int UseRefused { get; set; }

    public Dictionary<string, int> Refused { get; } = [];

    public int ExtraFailures { get; set; }

    public TimeSpan SlowestLoad { get; private set; }

    public long MostAllocated { get; private set; }

    /// <summary>The largest ratio of bytes allocated to bytes of input seen in one case.</summary>
    public double WorstAllocationRatio { get; private set; }

    public TimeSpan Elapsed { get; set; }

    public void Record(TimeSpan loadTime, long allocated, long inputBytes)
    {
        Cases++;
        if (loadTime > SlowestLoad) SlowestLoad = loadTime;
        if (allocated > MostAllocated) MostAllocated = allocated;
        double ratio = allocated / (double)Math.Max(1, inputBytes);
        if (ratio > WorstAllocationRatio) WorstAllocationRatio = ratio;
    }

    public override string ToString() =>
        $"{Reader}: {Cases} cases in {Elapsed.TotalSeconds:F1} s; loaded {Loaded} (used {Used}, refused in use {UseRefused}); refused " +
        (Refused.Count == 0 ? "0" : string.Join(", ", Refused.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value}"))) +
        $"; slowest load {SlowestLoad.TotalMilliseconds:F1} ms; most allocated {MostAllocated / 1048576.0:F2} MiB (worst {WorstAllocationRatio:F1}x input)";
}
