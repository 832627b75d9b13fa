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
    public static void Run(int rounds)
    {
        var functions = new (string Name, Action<float[], float[], float[]> Apply)[]
        {
            ("SwiGLU", (x, up, y) => Activations.SwiGlu(x, up, y)),
            ("SiLU", (x, _, y) => Activations.Silu(x, y)),
            ("GELU", (x, _, y) => Activations.Gelu(x, y)),
            ("GELU-tanh", (x, _, y) => Activations.GeluTanh(x, y)),
        };
        foreach (int width in new[] { 5632, 11008, 16384, 18176 })
        {
            var random = new Random(width);
            // Pre-activations of a real layer spread over a few units, some far out (where the functions saturate).
            var x = Enumerable.Range(0, width).Select(_ => (float)((random.NextDouble() * 2 - 1) * (random.Next(10) == 0 ? 20 : 3))).ToArray();
            var up = Enumerable.Range(0, width).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var y = new float[width];
            foreach (var (name, apply) in functions)
            {
                for (int i = 0; i < 500; i++) apply(x, up, y); // warm up, past the tiered JIT's first tier
                var times = new double[rounds];
                for (int r = 0; r < rounds; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    for (int i = 0; i < 20; i++) apply(x, up, y);
                    times[r] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / 20;
                }
                Array.Sort(times);
                double microseconds = times[rounds / 2];
                Console.WriteLine($$"""{"bench":"activation","function":"{{name}}","width":{{width}},"threads":1,"microsecondsPerRow":{{microseconds:F2}},"nanosecondsPerElement":{{microseconds * 1000 / width:F3}}}""");
            }
        }
    }
}
