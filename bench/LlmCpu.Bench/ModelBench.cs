using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// End-to-end figures in the shape of llama-bench, from the engine's own benchmark (the one Measure-TokenLatency runs):
/// pp512 and tg128, tokens per second as mean and standard deviation over repetitions, one JSON line per test.
/// </summary>
public static class ModelBench
{
    public static void Run(string path, int threads, int repetitions, int promptTokens = 512, int generatedTokens = 128)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        var summary = TokenLatencyBenchmark.Run(model, new TokenLatencyOptions
        {
            PromptTokens = Math.Min(promptTokens, model.ContextLength),
            GenerateTokens = Math.Min(generatedTokens, model.ContextLength - 1),
            Repetitions = repetitions,
        }, pool);
        foreach (var test in summary.Tests)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = model.Name, precision = model.Precision, sizeBytes = model.FileSizeBytes, parameters = model.Parameters, threads,
                isa = test.KernelPath, test = test.Test, tokensPerSecond = test.TokensPerSecond, sd = test.StandardDeviation,
                repetitions = test.Repetitions, p50Ms = test.P50Milliseconds, p99Ms = test.P99Milliseconds,
                readBandwidthGBps = test.ReadBandwidthGBps, fractionOfBandwidth = test.FractionOfBandwidth,
            }));
        }
    }
}
