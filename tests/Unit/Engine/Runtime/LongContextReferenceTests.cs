using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The engine against PyTorch over the whole context, not just its first few positions: the loss at every position of
/// a 256-token window of held-out text (so the perplexity itself), logits deep in the window after a chunked prefill,
/// and greedy continuations of prompts longer than one prefill chunk until the context ends. Positions that wrapped,
/// a cache read at the wrong offset or a chunk boundary mishandled all change these.
/// </summary>
public sealed class LongContextReferenceTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static readonly LongContextReference Reference = LongContextReference.Load();

    /// <summary>Where PyTorch's top two logits are closer than this, float rounding may legitimately pick either.</summary>
    private const double NearTie = 0.01;

    [Fact]
    public void TokenizerMatchesSentencePieceOnTheWindowAndPrompts()
    {
        Assert.Equal(Reference.HeldOut.Ids, fixture.Model.Tokenizer.Encode(Reference.HeldOut.Text, addBos: true));
        foreach (var prompt in Reference.Prompts) Assert.Equal(prompt.Ids, fixture.Model.Tokenizer.Encode(prompt.Text, addBos: true));
    }

    [Fact]
    public void LossAtEveryPositionAndThePerplexityMatch()
    {
        var window = Reference.HeldOut;
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var nll = new double[window.Ids.Length - 1];
        for (int i = 0; i < nll.Length; i++)
        {
            var logits = session.Decode(window.Ids[i]);
            nll[i] = NegativeLogLikelihood(logits, window.Ids[i + 1]);
            Assert.True(Math.Abs(nll[i] - window.Nll[i]) <= 2e-3, $"position {i}: loss {nll[i]:F5}, PyTorch {window.Nll[i]:F5}");
            if (window.ArgmaxMargin[i] >= NearTie) Assert.Equal(window.Argmax[i], IndexOfMax(logits));
        }
        double perplexity = Math.Exp(nll.Average());
        double secondHalf = Math.Exp(nll[window.SecondHalfStart..].Average());
        Assert.True(Math.Abs(perplexity / window.Perplexity - 1) <= 1e-4, $"perplexity {perplexity:F4}, PyTorch {window.Perplexity:F4}");
        Assert.True(Math.Abs(secondHalf / window.SecondHalfPerplexity - 1) <= 1e-4, $"second-half perplexity {secondHalf:F4}, PyTorch {window.SecondHalfPerplexity:F4}");
    }

    [Fact]
    public void LogitsDeepInTheWindowMatchAfterAChunkedPrefill()
    {
        var window = Reference.HeldOut;
        foreach (var (position, expected) in window.LogitsAt)
        {
            using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
            var logits = session.Prefill(window.Ids.AsSpan(0, position + 1)).ToArray();
            float maxError = logits.Zip(expected, (a, b) => MathF.Abs(a - b)).Max();
            Assert.True(maxError <= 2e-3f, $"position {position}: max |logit - PyTorch| = {maxError}");
        }
    }

    [Theory]
    [MemberData(nameof(LongContextReference.PromptIndices), MemberType = typeof(LongContextReference))]
    public void LongPromptsMatchFirstLogitsAndGreedyTokensToTheEndOfTheContext(int index)
    {
        var prompt = Reference.Prompts[index];
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var sampler = new Sampler(SamplingOptions.Greedy, fixture.Model.VocabularySize);
        var logits = session.Prefill(prompt.Ids);
        float maxError = logits.ToArray().Zip(prompt.FirstLogits, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(maxError <= 2e-3f, $"first-step max |logit - PyTorch| = {maxError}");
        for (int step = 0; step < prompt.Greedy.Length; step++)
        {
            int next = sampler.Sample(logits);
            if (next != prompt.Greedy[step])
            {
                Assert.True(prompt.GreedyMargin[step] < NearTie,
                    $"step {step} (position {session.Position - 1}): {next}, PyTorch {prompt.Greedy[step]} with a margin of {prompt.GreedyMargin[step]:F4}");
                return; // past a near tie the two continuations are different texts
            }
            if (step + 1 < prompt.Greedy.Length) logits = session.Decode(next);
        }
    }

    private static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        return Math.Log(sum) + max - logits[target];
    }

    private static int IndexOfMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
