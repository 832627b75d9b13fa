using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>What <see cref="TokenLatencyBenchmark"/> measures and how often.</summary>
public sealed record TokenLatencyOptions
{
    /// <summary>Tokens of the prompt-processing test (llama-bench's pp512); 0 skips it.</summary>
    public int PromptTokens { get; init; } = 512;

    /// <summary>Tokens of the generation test (llama-bench's tg128); 0 skips it.</summary>
    public int GenerateTokens { get; init; } = 128;

    /// <summary>Timed runs of each test.</summary>
    public int Repetitions { get; init; } = 5;

    /// <summary>Untimed runs first (compiling, page faults, caches).</summary>
    public int WarmUp { get; init; } = 1;

    /// <summary>Seed of the random prompt tokens.</summary>
    public int Seed { get; init; } = 7;

    /// <summary>Measure the read bandwidth in the same run, so decode can be given as a fraction of the bound.</summary>
    public bool MeasureBandwidth { get; init; } = true;
}

/// <summary>One test's figures, in the shape of llama-bench's pp and tg rows.</summary>
public sealed record TokenLatencyResult
{
    public required string Model { get; init; }

    /// <summary>"pp512" (prompt processing, the tokens in one pass) or "tg128" (tokens generated one at a time).</summary>
    public required string Test { get; init; }

    public required int Tokens { get; init; }

    public required int Repetitions { get; init; }

    /// <summary>Mean over repetitions of tokens / seconds.</summary>
    public required double TokensPerSecond { get; init; }

    /// <summary>Standard deviation of the repetitions' tokens per second.</summary>
    public required double StandardDeviation { get; init; }

    /// <summary>Each repetition's tokens per second, in the order run (llama-bench's samples_ts), not rounded.</summary>
    public required IReadOnlyList<double> TokensPerSecondSamples { get; init; }

    /// <summary>Prompt test: the whole prompt's time (to the first new token's logits); generation test: the first step's time. Mean, ms.</summary>
    public required double FirstTokenMilliseconds { get; init; }

    /// <summary>Milliseconds per token: each decode step (generation), or each repetition's time / tokens (prompt).</summary>
    public required double P50Milliseconds { get; init; }

    public required double P90Milliseconds { get; init; }

    public required double P99Milliseconds { get; init; }

    public required int Threads { get; init; }

    public required string KernelPath { get; init; }

    /// <summary>Bytes of weights the model computes with.</summary>
    public required long ModelBytes { get; init; }

    /// <summary>Generation test: bytes read per token (every weight but the embedding table, plus the KV cache) times tokens per second.</summary>
    public double? BandwidthGBps { get; init; }

    /// <summary>Read bandwidth measured in the same run on the same threads, after each repetition: the median.</summary>
    public double? ReadBandwidthGBps { get; init; }

    /// <summary>Generation test: each reading of the read bandwidth, the one taken after repetition i at i; not rounded.</summary>
    public IReadOnlyList<double>? ReadBandwidthGBpsSamples { get; init; }

    /// <summary>
    /// How close decode is to the memory bound: each repetition's decode bandwidth against the read bandwidth measured
    /// beside it, the median over repetitions (so about <see cref="BandwidthGBps"/> / <see cref="ReadBandwidthGBps"/>
    /// on a steady machine, and not thrown by one slow reading on a drifting one).
    /// </summary>
    public double? FractionOfBandwidth { get; init; }
}

/// <summary>A whole run: both tests and the two headline figures.</summary>
public sealed record TokenLatencySummary
{
    public required string Model { get; init; }

    public required int Threads { get; init; }

    public required string KernelPath { get; init; }

    public required long ModelBytes { get; init; }

    public double? PromptTokensPerSecond { get; init; }

    public double? GenerateTokensPerSecond { get; init; }

    public double? FractionOfBandwidth { get; init; }

    public required IReadOnlyList<TokenLatencyResult> Tests { get; init; }
}

/// <summary>
/// Measures a model's speed the way llama-bench does: a prompt of random tokens processed in one pass (pp), and tokens
/// generated one at a time from an empty context (tg), each repeated, with mean and standard deviation of tokens per
/// second; plus per-token latency percentiles, and decode measured against the machine's read bandwidth taken in the
/// same run. Cancellation is checked between tokens.
/// </summary>
public static class TokenLatencyBenchmark
{
    public static TokenLatencySummary Run(LanguageModel model, TokenLatencyOptions options, WorkerPool pool, IEngineLog? log = null,
        CancellationToken cancellation = default)
    {
        log ??= NullEngineLog.Instance;
        if (options.PromptTokens < 0 || options.GenerateTokens < 0)
            throw new GenerationArgumentException(nameof(options.PromptTokens), "Token counts must be 0 or more.");
        if (options.Repetitions < 1) throw new GenerationArgumentException(nameof(options.Repetitions), "At least one repetition is needed.");
        if (options.WarmUp < 0) throw new GenerationArgumentException(nameof(options.WarmUp), "Warm-up runs must be 0 or more.");
        if (options.PromptTokens > model.ContextLength)
            throw new GenerationArgumentException(nameof(options.PromptTokens), $"{options.PromptTokens} prompt tokens exceed the context of {model.ContextLength}.");
        if (options.GenerateTokens + 1 > model.ContextLength)
            throw new GenerationArgumentException(nameof(options.GenerateTokens), $"{options.GenerateTokens} generated tokens exceed the context of {model.ContextLength}.");

        var tests = new List<TokenLatencyResult>();
        using var session = new InferenceSession(model, pool, Math.Max(options.PromptTokens, options.GenerateTokens + 1));
        if (options.PromptTokens > 0) tests.Add(Prompt(model, session, options, pool, log, cancellation));
        if (options.GenerateTokens > 0) tests.Add(Generate(model, session, options, pool, log, cancellation));
        log.Progress(Activity, "done", 100);
        return new TokenLatencySummary
        {
            Model = model.Name, Threads = pool.ThreadCount, KernelPath = KernelDispatch.Best.ToString(), ModelBytes = model.WeightBytes,
            PromptTokensPerSecond = tests.FirstOrDefault(t => t.Test.StartsWith("pp", StringComparison.Ordinal))?.TokensPerSecond,
            GenerateTokensPerSecond = tests.FirstOrDefault(t => t.Test.StartsWith("tg", StringComparison.Ordinal))?.TokensPerSecond,
            FractionOfBandwidth = tests.FirstOrDefault(t => t.FractionOfBandwidth != null)?.FractionOfBandwidth,
            Tests = tests,
        };
    }

    private const string Activity = "Measuring token latency";

    private static TokenLatencyResult Prompt(LanguageModel model, InferenceSession session, TokenLatencyOptions options, WorkerPool pool,
        IEngineLog log, CancellationToken cancellation)
    {
        var random = new Random(options.Seed);
        // Random ids past the special tokens, as llama-bench's are: the cost does not depend on which tokens they are.
        int lowest = Math.Min(3, model.VocabularySize - 1);
        var prompt = Enumerable.Range(0, options.PromptTokens).Select(_ => random.Next(lowest, model.VocabularySize)).ToArray();
        var seconds = new List<double>();
        for (int r = -options.WarmUp; r < options.Repetitions; r++)
        {
            log.Progress(Activity, $"pp{prompt.Length}: {(r < 0 ? "warm-up" : $"repetition {r + 1} of {options.Repetitions}")}",
                Percent(r + options.WarmUp, options));
            session.Reset();
            long start = Stopwatch.GetTimestamp();
            session.Prefill(prompt, cancellation);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (r >= 0) seconds.Add(elapsed);
        }
        var perToken = seconds.Select(s => s * 1000 / prompt.Length).ToArray();
        return Result(model, $"pp{prompt.Length}", prompt.Length, seconds.Select(s => prompt.Length / s).ToArray(), perToken,
            seconds.Average() * 1000, pool);
    }

    private static TokenLatencyResult Generate(LanguageModel model, InferenceSession session, TokenLatencyOptions options, WorkerPool pool,
        IEngineLog log, CancellationToken cancellation)
    {
        int steps = options.GenerateTokens;
        var rates = new List<double>();
        var stepMilliseconds = new List<double>();
        var firstStep = new List<double>();
        double bytesPerToken = BytesReadPerToken(model, steps);
        var reads = new List<double>();
        using var probe = options.MeasureBandwidth ? new ReadBandwidthProbe() : null;
        for (int r = -options.WarmUp; r < options.Repetitions; r++)
        {
            log.Progress(Activity, $"tg{steps}: {(r < 0 ? "warm-up" : $"repetition {r + 1} of {options.Repetitions}")}",
                Percent(options.WarmUp + options.Repetitions + r + options.WarmUp, options));
            session.Reset();
            int token = model.Config.BosTokenId;
            long runStart = Stopwatch.GetTimestamp();
            for (int i = 0; i < steps; i++)
            {
                long start = Stopwatch.GetTimestamp();
                token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(session.Decode(token, cancellation));
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (r < 0) continue;
                stepMilliseconds.Add(ms);
                if (i == 0) firstStep.Add(ms);
            }
            double elapsed = Stopwatch.GetElapsedTime(runStart).TotalSeconds;
            if (r < 0) continue;
            rates.Add(steps / elapsed);
            // After each repetition, on the same threads: the bound moves with the machine's load (a shared machine's
            // memory drifts by half within minutes), so each repetition is set against the read taken beside it, and
            // the fraction is the median of those ratios, not one reading against the mean of all repetitions.
            if (probe != null) reads.Add(probe.MeasureGBps(pool, cancellation: cancellation));
        }
        var result = Result(model, $"tg{steps}", steps, rates.ToArray(), stepMilliseconds.ToArray(), firstStep.Average(), pool);
        return result with
        {
            BandwidthGBps = Math.Round(bytesPerToken * result.TokensPerSecond / 1e9, 2),
            ReadBandwidthGBps = reads.Count > 0 ? Math.Round(Median.Of(reads), 2) : null,
            ReadBandwidthGBpsSamples = reads.Count > 0 ? reads.ToArray() : null,
            FractionOfBandwidth = reads.Count > 0 ? Math.Round(FractionOfBandwidth(bytesPerToken, rates, reads), 3) : null,
        };
    }

    /// <summary>
    /// The median over repetitions of each one's decode bandwidth (<paramref name="bytesPerToken"/> × its tokens per
    /// second) against the read bandwidth measured beside it (<paramref name="reads"/>[i] after repetition i).
    /// </summary>
    internal static double FractionOfBandwidth(double bytesPerToken, IReadOnlyList<double> rates, IReadOnlyList<double> reads) =>
        Median.Of(rates.Select((rate, i) => bytesPerToken * rate / 1e9 / reads[i]));

    /// <summary>
    /// Bytes a decode step reads: every weight matrix but the token embedding (one row of it is looked up; tied to the
    /// output it is read whole as the output), the norms, and the KV cache at the run's average position.
    /// </summary>
    internal static double BytesReadPerToken(LanguageModel model, int steps)
    {
        var w = model.Weights;
        double bytes = w.ByteSize - (ReferenceEquals(w.Output, w.TokenEmbedding) ? 0 : w.TokenEmbedding.ByteSize);
        var c = model.Config;
        bytes += (2.0 * c.LayerCount + 1) * c.EmbeddingLength * sizeof(float);
        bytes += 2.0 * c.LayerCount * c.KvDim * sizeof(float) * (steps + 1) / 2.0;
        return bytes;
    }

    private static int Percent(int done, TokenLatencyOptions options) =>
        Math.Min(99, 100 * done / (2 * (options.WarmUp + options.Repetitions)));

    private static TokenLatencyResult Result(LanguageModel model, string test, int tokens, double[] rates, double[] perTokenMilliseconds,
        double firstMilliseconds, WorkerPool pool)
    {
        double mean = rates.Average();
        double sd = rates.Length > 1 ? Math.Sqrt(rates.Sum(r => (r - mean) * (r - mean)) / (rates.Length - 1)) : 0;
        Array.Sort(perTokenMilliseconds);
        return new TokenLatencyResult
        {
            Model = model.Name, Test = test, Tokens = tokens, Repetitions = rates.Length,
            TokensPerSecond = Math.Round(mean, 2), StandardDeviation = Math.Round(sd, 2), TokensPerSecondSamples = rates.ToArray(),
            FirstTokenMilliseconds = Math.Round(firstMilliseconds, 3),
            P50Milliseconds = Math.Round(Percentile(perTokenMilliseconds, 0.50), 3),
            P90Milliseconds = Math.Round(Percentile(perTokenMilliseconds, 0.90), 3),
            P99Milliseconds = Math.Round(Percentile(perTokenMilliseconds, 0.99), 3),
            Threads = pool.ThreadCount, KernelPath = KernelDispatch.Best.ToString(), ModelBytes = model.WeightBytes,
        };
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
