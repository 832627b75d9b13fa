using LlmCpu.Engine;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class PerplexityEvaluatorTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static string HeldOut => TestTexts.HeldOut;

    /// <summary>
    /// The convention written out the slow way: every window decoded one token at a time, BOS in place of its first
    /// token, and the natural log of the softmax at positions n/2 .. n-2 against the token after each.
    /// </summary>
    private static (double Perplexity, int Scored) NaivePerplexity(LanguageModel model, int[] tokens, int context)
    {
        double nll = 0;
        int scored = 0;
        using var session = new InferenceSession(model, new WorkerPool(1), context);
        for (int start = 0; start + context <= tokens.Length; start += context)
        {
            session.Reset();
            for (int position = 0; position < context - 1; position++)
            {
                var logits = session.Decode(position == 0 ? model.Tokenizer.BosTokenId : tokens[start + position]).ToArray();
                if (position < context / 2) continue;
                double max = logits.Max();
                double logZ = max + Math.Log(logits.Sum(v => Math.Exp(v - max)));
                nll += logZ - logits[tokens[start + position + 1]];
                scored++;
            }
        }
        return (Math.Exp(nll / scored), scored);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(101)]  // odd: the scored half starts at 50, and the window does not divide the text
    public void WindowsBosAndScoredPositionsFollowLlamaPerplexity(int context)
    {
        int[] tokens = fixture.Model.Tokenizer.Encode(HeldOut, addBos: true);
        var result = PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { ContextLength = context }, WorkerPool.Shared);

        var naive = NaivePerplexity(fixture.Model, tokens, context);
        Assert.Equal(tokens.Length / context, result.Windows);
        Assert.Equal(result.Windows * (context - 1 - context / 2), result.Tokens);
        Assert.Equal(naive.Scored, result.Tokens);
        Assert.Equal(tokens.Length, result.TextTokens);
        Assert.Equal(naive.Perplexity, result.Perplexity, naive.Perplexity * 1e-4);
        Assert.True(result.StandardError > 0 && result.StandardError < result.Perplexity / 4, $"standard error {result.StandardError}");
        Assert.Null(result.KLDivergence);
        Assert.Null(result.Reference);
    }

    [Fact]
    public void DefaultsToTheModelsContext()
    {
        var result = PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { Source = "opening.txt" }, WorkerPool.Shared);
        Assert.Equal(fixture.Model.ContextLength, result.ContextLength);
        Assert.True(result.Windows >= 5, $"{result.Windows} windows");
        Assert.Equal("opening.txt", result.Source);
        // Held-out Austen: the bundled model scores about 90-130 on Persuasion.
        Assert.InRange(result.Perplexity, 40, 250);
    }

    [Fact]
    public void AModelAgainstItselfHasNoDivergence()
    {
        var result = PerplexityEvaluator.Measure(fixture.Model, HeldOut,
            new PerplexityOptions { ContextLength = 128, Reference = fixture.Model }, WorkerPool.Shared);
        Assert.Equal(result.Perplexity, result.ReferencePerplexity!.Value, 1e-9);
        Assert.Equal(1.0, result.PerplexityRatio!.Value, 1e-9);
        Assert.Equal(0, result.KLDivergence!.Value, 1e-9);
        Assert.Equal(0, result.KLDivergenceMaximum!.Value, 1e-9);
        Assert.Equal(1.0, result.SameTopTokenRate!.Value);
        Assert.Equal(0, result.RmsProbabilityDelta!.Value, 1e-9);
        Assert.Equal(fixture.Model.Name, result.Reference);
    }

    [Fact]
    public void AnInt4ModelAgainstTheFloatOneDivergesAsItsOwnPositionsSay()
    {
        using var quantized = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4 });
        var result = PerplexityEvaluator.Measure(quantized, HeldOut,
            new PerplexityOptions { ContextLength = 128, Reference = fixture.Model }, WorkerPool.Shared);
        var alone = PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { ContextLength = 128 }, WorkerPool.Shared);

        Assert.Equal(alone.Perplexity, result.ReferencePerplexity!.Value, 1e-9);
        Assert.Equal(result.Perplexity / result.ReferencePerplexity!.Value, result.PerplexityRatio!.Value, 1e-9);
        // INT4 g128 on this model: KL of a few thousandths of a nat, more than nine tokens in ten ranked alike.
        Assert.InRange(result.KLDivergence!.Value, 1e-4, 0.05);
        Assert.True(result.KLDivergenceMedian <= result.KLDivergence && result.KLDivergence <= result.KLDivergenceP99
                    && result.KLDivergenceP99 <= result.KLDivergenceMaximum, "median <= mean <= p99 <= maximum for a right-skewed divergence");
        Assert.InRange(result.SameTopTokenRate!.Value, 0.8, 0.9999);
        Assert.InRange(result.RmsProbabilityDelta!.Value, 1e-4, 0.1);
        Assert.True(result.KLDivergenceStandardError > 0);
    }

    [Fact]
    public void TextShorterThanOneWindowNamesTheMinimum()
    {
        var ex = Assert.Throws<GenerationArgumentException>(() =>
            PerplexityEvaluator.Measure(fixture.Model, "It is a truth universally acknowledged.", new PerplexityOptions(), WorkerPool.Shared));
        Assert.Contains($"{fixture.Model.ContextLength} tokens", ex.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(100000)]
    public void AWindowOutOfRangeIsRefused(int context)
    {
        var ex = Assert.Throws<GenerationArgumentException>(() =>
            PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { ContextLength = context }, WorkerPool.Shared));
        Assert.Equal("ContextLength", ex.ParamName);
    }

    [Fact]
    public void AReferenceWithAnotherVocabularyIsRefused()
    {
        string path = Path.Combine(Path.GetTempPath(), $"llmcpu-vocab-{Guid.NewGuid():N}.gguf");
        try
        {
            // The bundled tokenizer's 4096 pieces, but 4160 rows of embedding and output.
            var shape = new SyntheticShape("wider vocabulary", 64, 1, 4, 4, 128, 4160, 256);
            SyntheticGgufWriter.Write(shape, path, GgmlType.F16, File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model")), seed: 1, overwrite: false);
            using var other = ModelLoader.Load(path);
            var ex = Assert.Throws<VocabularyMismatchException>(() =>
                PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { Reference = other }, WorkerPool.Shared));
            Assert.Contains("4160", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReportsEachWindowAndStopsWhenCancelled()
    {
        var log = new ProgressLog();
        var result = PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { ContextLength = 64 }, WorkerPool.Shared, log);
        Assert.Equal(result.Windows, log.Records.Count);
        Assert.Equal(100, log.Records[^1].Percent);
        Assert.Contains($"window {result.Windows} of {result.Windows}", log.Records[^1].Status);

        using var stop = new CancellationTokenSource();
        var stopping = new ProgressLog(stop.Cancel);
        Assert.ThrowsAny<OperationCanceledException>(() =>
            PerplexityEvaluator.Measure(fixture.Model, HeldOut, new PerplexityOptions { ContextLength = 64 }, WorkerPool.Shared, stopping, stop.Token));
        Assert.Single(stopping.Records);
    }

    /// <summary>Keeps progress records; optionally acts on the first (to cancel after one window).</summary>
    private sealed class ProgressLog(Action? onFirst = null) : IEngineLog
    {
        public List<(string Status, int Percent)> Records { get; } = [];

        public void Verbose(string message) { }

        public void Warning(string message) { }

        public void Progress(string activity, string status, int percentComplete)
        {
            Records.Add((status, percentComplete));
            if (Records.Count == 1) onFirst?.Invoke();
        }
    }
}
