namespace LlmCpu.Tests.Support;

/// <summary>
/// Bytes a repeated step allocates on the calling thread once it is warm. The runtime itself may allocate once, at a
/// moment that depends on timing (lazy per-thread or per-type state first reached when a loaded machine makes a wait
/// take a slower branch); such a one-off lands in one window of steps. A step that allocates each time (or every few
/// times) does so in every window. So the steps run in up to three windows and the result is the smallest window's
/// bytes, with every window's figure in the message.
/// </summary>
internal static class SteadyAllocation
{
    public static (long Bytes, string Windows) Measure(Func<int> step, int stepsPerWindow, int windows = 3)
    {
        var figures = new List<long>();
        for (int w = 0; w < windows; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            int steps = 0;
            for (int i = 0; i < stepsPerWindow; i++) steps += step();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            figures.Add(allocated);
            if (allocated == 0) break;
        }
        return (figures.Min(), string.Join(", ", figures));
    }
}
