using System.Diagnostics;

namespace LlmCpu.Tests.Support;

/// <summary>What the test process holds right now: resident memory after a full collection, open handles, threads.</summary>
public readonly record struct ProcessResources(long ResidentBytes, int Handles, int Threads)
{
    public static ProcessResources Now()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        return new ProcessResources(process.WorkingSet64, process.HandleCount, process.Threads.Count);
    }

    public override string ToString() => $"resident {ResidentBytes / 1048576.0:F1} MiB, {Handles} handles, {Threads} threads";
}
