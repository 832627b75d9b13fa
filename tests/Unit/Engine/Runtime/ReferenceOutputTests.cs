using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>The engine against the PyTorch reference: same token ids, same first-step logits, same greedy tokens.</summary>
public sealed class ReferenceOutputTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Theory]
    [MemberData(nameof(FixtureReference.PromptIndices), MemberType = typeof(FixtureReference))]
    public void TokenizerMatchesSentencePiece(int index)
    {
        var prompt = fixture.Reference.Prompts[index];
        Assert.Equal(prompt.Ids, fixture.Model.Tokenizer.Encode(prompt.Text, addBos: true));
    }

    [Theory]
    [MemberData(nameof(FixtureReference.PromptIndices), MemberType = typeof(FixtureReference))]
    public void FirstStepLogitsMatchWithin1e3(int index)
    {
        var prompt = fixture.Reference.Prompts[index];
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var logits = session.Prefill(prompt.Ids).ToArray();
        Assert.Equal(prompt.FirstLogits.Length, logits.Length);
        float maxError = logits.Zip(prompt.FirstLogits, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(maxError <= 1e-3f, $"max |logit - reference| = {maxError}");
    }

    [Theory]
    [MemberData(nameof(FixtureReference.PromptIndices), MemberType = typeof(FixtureReference))]
    public void GreedyTokensMatchExactly(int index)
    {
        var prompt = fixture.Reference.Prompts[index];
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var sampler = new Sampler(SamplingOptions.Greedy, fixture.Model.VocabularySize);
        var logits = session.Prefill(prompt.Ids);
        var tokens = new List<int>();
        while (tokens.Count < prompt.Greedy.Length)
        {
            int next = sampler.Sample(logits);
            tokens.Add(next);
            logits = session.Decode(next);
        }
        Assert.Equal(prompt.Greedy, tokens);
    }

    [Theory]
    [MemberData(nameof(FixtureReference.PromptIndices), MemberType = typeof(FixtureReference))]
    public void GeneratorGreedyTextMatchesReferenceText(int index)
    {
        var prompt = fixture.Reference.Prompts[index];
        int untilEos = Array.IndexOf(prompt.Greedy, 2) is var eos and >= 0 ? eos : prompt.Greedy.Length;
        var result = new TextGenerator(fixture.Model).Generate(prompt.Text, new GenerationOptions { MaxTokens = prompt.Greedy.Length, Sampling = SamplingOptions.Greedy });
        Assert.Equal(prompt.Greedy.Take(untilEos), result.TokenIds);
        Assert.Equal(fixture.Model.Tokenizer.Decode(prompt.Ids.Concat(prompt.Greedy.Take(untilEos)))[fixture.Model.Tokenizer.Decode(prompt.Ids).Length..], result.Text);
    }
}
