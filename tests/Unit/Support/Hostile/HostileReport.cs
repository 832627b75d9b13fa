namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Appends each hostile-input run's summary line to the file LLMCPU_HOSTILE_REPORT names, when set, so the figures in
/// docs/reliability.md can be gathered from one test run.
/// </summary>
public static class HostileReport
{
    private static readonly object Gate = new();

    public static void Append(HostileSummary summary)
    {
        string? path = Environment.GetEnvironmentVariable("LLMCPU_HOSTILE_REPORT");
        if (string.IsNullOrEmpty(path)) return;
        lock (Gate) File.AppendAllText(path, summary + Environment.NewLine);
    }
}
