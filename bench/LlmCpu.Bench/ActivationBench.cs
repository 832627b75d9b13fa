using System.Diagnostics;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Bench;

/// <summary>
/// The feed-forward activations on one token's hidden row of a few real widths (TinyLlama's 5632, Llama-2-7B's 11008,
/// GPT-J-6B's 16384, Falcon-7B's 18176), one thread, as a decode step runs them: nanoseconds per element (median of
/// the rounds) and microseconds per row. A decode step applies the activation once per layer, on one thread.
/// </summary>
internal static class ActivationBench
{
    /// <summary>Floats between rows beyond their width: half a page plus a cache line.</summary>
    private const int Skew = 528;

    private delegate void RowFunction(ReadOnlySpan<float> x, ReadOnlySpan<float> up, Span<float> y);

    public static void Run(int rounds)
    {
        var functions = new (string Name, RowFunction Apply)[]
        {
            ("SwiGLU", Activations.SwiGlu),
            ("SiLU", (x, _, y) => Activations.Silu(x, y)),
            ("GELU", (x, _, y) => Activations.Gelu(x, y)),
            ("GELU-tanh", (x, _, y) => Activations.GeluTanh(x, y)),
        };
        // The tiered JIT replaces precompiled and first-tier code only after a while, and the first function measured
        // ran 10x slower after 300 ms of its own warm-up: every function runs for half a second before any is measured.
        var warm = new float[3 * 1024];
        foreach (var (_, apply) in functions)
        {
            for (long begin = Stopwatch.GetTimestamp(); Stopwatch.GetElapsedTime(begin).TotalMilliseconds < 500;)
                apply(warm.AsSpan(0, 1000), warm.AsSpan(1024, 1000), warm.AsSpan(2048, 1000));
        }
        foreach (int width in new[] { 5632, 11008, 16384, 18176 })
        {
            var random = new Random(width);
            // Pre-activations of a real layer spread over a few units, some far out (where the functions saturate).
            // The three rows in one array, each starting half a page further into its 4 KB page than the last, as the
            // engine's buffers do: rows at the same offset into their pages (separate arrays of some widths are) make
            // each load wait on the store before it (4K aliasing), which measured 10x slower on an AMD Zen 5.
            int spacing = width + Skew;
            var rows = new float[3 * spacing];
            var x = rows.AsMemory(0, width);
            var up = rows.AsMemory(spacing, width);
            var y = rows.AsMemory(2 * spacing, width);
            for (int i = 0; i < width; i++)
            {
                x.Span[i] = (float)((random.NextDouble() * 2 - 1) * (random.Next(10) == 0 ? 20 : 3));
                up.Span[i] = (float)(random.NextDouble() * 2 - 1);
            }
            foreach (var (name, apply) in functions)
            {
                for (int i = 0; i < 20; i++) apply(x.Span, up.Span, y.Span);
                var times = new double[rounds];
                for (int r = 0; r < rounds; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    for (int i = 0; i < 20; i++) apply(x.Span, up.Span, y.Span);
                    times[r] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / 20;
                }
                Array.Sort(times);
                double microseconds = times[rounds / 2];
                Console.WriteLine($$"""{"bench":"activation","function":"{{name}}","width":{{width}},"threads":1,"microsecondsPerRow":{{microseconds:F2}},"nanosecondsPerElement":{{microseconds * 1000 / width:F3}}}""");
            }
        }
    }
}
