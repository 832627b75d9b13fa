using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>Where a prompt's time goes: the share of each forward-pass stage over a prefill of <c>tokens</c> tokens.</summary>
public static class PrefillProfile
{
    public static void Run(string path, int threads, int tokens = 512, int repetitions = 3)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        var random = new Random(7);
        var prompt = Enumerable.Range(0, Math.Min(tokens, model.ContextLength)).Select(_ => random.Next(3, model.Tokenizer.VocabularySize)).ToArray();
        using var session = new InferenceSession(model, pool, prompt.Length);
        session.Prefill(prompt); // warm-up
        var timings = new ForwardTimings();
        session.Timings = timings;
        var process = System.Diagnostics.Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        for (int r = 0; r < repetitions; r++)
        {
            session.Reset();
            session.Prefill(prompt);
        }
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        double total = timings.Total.TotalSeconds;
        var stages = Enum.GetValues<ForwardTimings.Stage>().ToDictionary(s => s.ToString(), s => Math.Round(timings[s].TotalSeconds / total, 4));
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model = model.Name, precision = model.Precision, threads, isa = KernelDispatch.Best.ToString(), tokens = prompt.Length,
            tokensPerSecond = Math.Round(prompt.Length * repetitions / total, 2),
            // Tokens per second of the process's CPU time: at one thread (the work runs on the calling thread) the
            // figure a machine shared with other work disturbs least; at more, waiting workers' spinning counts too.
            cpuTokensPerSecond = Math.Round(prompt.Length * repetitions / cpu, 2),
            shareOfTime = stages,
        }));
    }
}
