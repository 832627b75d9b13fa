using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// A batch on a KV cache pool too small for all its sequences: a sequence whose next token finds no free block ends
/// alone (ContextFull, keeping its tokens), a prompt waits for blocks while others hold them, and a prompt the pool
/// cannot hold even with the batch idle fails alone.
/// </summary>
public sealed class BatchedKvPoolTests
{
    /// <summary>The fixture model with a pool of <paramref name="blocks"/> blocks (64 positions each).</summary>
    private static LanguageModel Load(int blocks)
    {
        using var probe = ModelLoader.Load(RepoPaths.FixtureModel);
        var c = probe.Config;
        long blockBytes = 2L * c.LayerCount * c.KvDim * KvCachePool.BlockPositions * sizeof(float);
        return ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { KvCache = new KvCacheOptions { MemoryBytes = blocks * blockBytes } });
    }

    private static GenerationRequest Request(string prompt, int maxTokens, int seed) => new(prompt, new GenerationOptions
    {
        MaxTokens = maxTokens, StopAtEos = false, ReusePromptPrefix = false, Sampling = new SamplingOptions { Seed = seed, Temperature = 0.8f },
    });

    private static GenerationResult[] Alone(LanguageModel model, WorkerPool pool, GenerationRequest[] requests) =>
        [.. requests.Select(r => new TextGenerator(model, pool).Generate(r.Prompt, r.Options))];

    [Fact]
    public void ASequenceThatFindsNoFreeBlockEndsAloneAsAtAFullContext()
    {
        // Three blocks for two sequences of 100 tokens: both start (a block each) with prompts of one length, so both
        // reach position 64 in the same step; the first takes the last block, the second ends there and the first goes
        // on to its limit.
        using var model = Load(3);
        using var pool = new WorkerPool(2);
        GenerationRequest[] requests = [Request("She was not", 100, 1), Request("She was not", 100, 2)];
        var alone = Alone(model, pool, requests);
        var outcomes = new BatchedGenerator(model, 2, pool).Generate(requests);

        var first = outcomes[0].Result!;
        Assert.Null(outcomes[0].CacheShortage);
        Assert.Equal(StopReason.MaxTokens, first.StopReason);
        Assert.Equal(alone[0].TokenIds, first.TokenIds);

        var second = outcomes[1].Result!;
        Assert.Null(outcomes[1].Error);
        Assert.Equal(StopReason.ContextFull, second.StopReason);
        Assert.Equal(0, Assert.IsType<KvCacheExhaustedException>(outcomes[1].CacheShortage).BlocksFree);
        // Its last token was sampled at position 64 and kept, as at a full context: 64 - prompt + 1 tokens, the first
        // ones it generates alone.
        Assert.Equal(KvCachePool.BlockPositions - second.PromptTokens + 1, second.GeneratedTokens);
        Assert.Equal(alone[1].TokenIds.Take(second.GeneratedTokens), second.TokenIds);
        Assert.Equal(0, model.KvCacheBlocksInUse);
    }

    [Fact]
    public void AWaitingPromptStartsWhenBlocksAreGivenBack()
    {
        // Two blocks, three places: the third prompt finds the pool taken, waits, and starts when the first request
        // ends, beside the second one's decode steps.
        using var model = Load(2);
        using var pool = new WorkerPool(2);
        GenerationRequest[] requests = [Request("She was not", 20, 1), Request("Mr. Darcy", 25, 2), Request("The evening passed", 15, 3)];
        var alone = Alone(model, pool, requests);
        var finished = new List<int>();
        var generator = new BatchedGenerator(model, 3, pool);
        var outcomes = new BatchedOutcome[requests.Length];
        generator.Generate(requests, o => { finished.Add(o.Index); outcomes[o.Index] = o; });

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Null(outcomes[i].Error);
            Assert.Null(outcomes[i].CacheShortage);
            Assert.Equal(alone[i].TokenIds, outcomes[i].Result!.TokenIds);
        }
        Assert.Equal([0, 1, 2], finished);
        // The first two share steps 1 to 20; the third starts at step 21 and takes its fifteenth token at step 35.
        Assert.Equal(35, generator.StepCounts.Steps);
        Assert.Equal(1, generator.StepCounts.MixedSteps);
    }

    [Fact]
    public void APromptThePoolCannotHoldFailsAloneOnceNothingElseRuns()
    {
        // One block: the long prompt needs two. It waits while the first request runs, then fails; the next one runs.
        using var model = Load(1);
        using var pool = new WorkerPool(2);
        string longPrompt = string.Concat(Enumerable.Repeat("It is a truth universally acknowledged. ", 9));
        GenerationRequest[] requests = [Request("She was not", 5, 1), Request(longPrompt, 5, 2), Request("Mr. Darcy", 5, 3)];
        var finished = new List<int>();
        var outcomes = new BatchedOutcome[requests.Length];
        new BatchedGenerator(model, 2, pool).Generate(requests, o => { finished.Add(o.Index); outcomes[o.Index] = o; });

        var error = Assert.IsType<KvCacheExhaustedException>(outcomes[1].Error);
        Assert.Equal(2, error.BlocksNeeded);
        Assert.Equal(5, outcomes[0].Result!.GeneratedTokens);
        Assert.Equal(5, outcomes[2].Result!.GeneratedTokens);
        Assert.Equal([0, 1, 2], finished);
        Assert.Equal(0, model.KvCacheBlocksInUse);
    }
}
