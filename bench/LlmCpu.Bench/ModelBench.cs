using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// End-to-end figures in the shape of llama-bench: pp512 (prompt processing, 512 tokens in one pass) and tg128
/// (128 tokens generated one at a time), tokens per second as mean and standard deviation over repetitions.
/// </summary>
public static class ModelBench
{
    public static void Run(string path, int threads, int repetitions, int promptTokens = 512, int generatedTokens = 128)
    {
        using var model = ModelLoader.Load(path);
        using var pool = new WorkerPool(threads);
        int capacity = Math.Min(model.ContextLength, promptTokens + generatedTokens + 1);
        var random = new Random(7);
        var prompt = Enumerable.Range(0, Math.Min(promptTokens, capacity - 1)).Select(_ => random.Next(3, model.Tokenizer.VocabularySize)).ToArray();
        var pp = new List<double>();
        var tg = new List<double>();
        using var session = new InferenceSession(model, pool, capacity);
        for (int r = 0; r < repetitions + 1; r++)
        {
            session.Reset();
            long start = Stopwatch.GetTimestamp();
            session.Prefill(prompt);
            double prefill = Stopwatch.GetElapsedTime(start).TotalSeconds;

            session.Reset();
            session.Decode(1);
            int token = 1;
            int steps = Math.Min(generatedTokens, capacity - 2);
            start = Stopwatch.GetTimestamp();
            for (int i = 0; i < steps; i++) token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(session.Decode(token));
            double generation = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (r == 0) continue; // warm-up
            pp.Add(prompt.Length / prefill);
            tg.Add(steps / generation);
        }
        Print(model, threads, $"pp{prompt.Length}", pp);
        Print(model, threads, $"tg{Math.Min(generatedTokens, capacity - 2)}", tg);
    }

    private static void Print(LanguageModel model, int threads, string test, List<double> samples)
    {
        double mean = samples.Average();
        double sd = Math.Sqrt(samples.Sum(s => (s - mean) * (s - mean)) / Math.Max(1, samples.Count - 1));
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model = model.Name, precision = model.Precision, sizeBytes = model.FileSizeBytes, parameters = model.Parameters, threads,
            isa = KernelDispatch.Best.ToString(), test, tokensPerSecond = Math.Round(mean, 2), sd = Math.Round(sd, 2), repetitions = samples.Count,
        }));
    }
}
