using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The prompt prefix cache: a prompt that starts as an earlier one runs only what follows the shared whole blocks, and
/// generates exactly what it generates without the cache. Each test loads its own model, so the cache starts empty.
/// </summary>
public sealed class PromptPrefixCacheTests
{
    private const string Instructions =
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. " +
        "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so " +
        "well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters. ";

    private static readonly GenerationOptions Options = new() { MaxTokens = 12, StopAtEos = false, Sampling = new SamplingOptions { Seed = 7, Temperature = 0.9f } };

    [Fact]
    public void ARepeatedPromptRunsOnlyItsLastBlockAndGeneratesTheSame()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var generator = new TextGenerator(model);
        string prompt = Instructions + "Mr. Darcy";
        int length = model.Tokenizer.Encode(prompt, true).Length;
        Assert.True(length > PromptPrefixCache.BlockTokens, $"the prompt is only {length} tokens");

        var first = generator.Generate(prompt, Options);
        var second = generator.Generate(prompt, Options);
        var uncached = generator.Generate(prompt, Options with { ReusePromptPrefix = false });

        Assert.Equal(0, first.CachedTokens);
        Assert.Equal(length, first.PromptTokens);
        // Whole blocks of the earlier prompt, leaving at least the last token to run.
        int reused = (length - 1) / PromptPrefixCache.BlockTokens * PromptPrefixCache.BlockTokens;
        Assert.Equal(reused, second.CachedTokens);
        Assert.Equal(length - reused, second.PromptTokens);
        Assert.Equal(first.TokenIds, second.TokenIds);
        Assert.Equal(uncached.TokenIds, second.TokenIds);
        Assert.Equal(0, uncached.CachedTokens);

        var statistics = model.PromptCache.Statistics;
        Assert.Equal(2, statistics.Lookups);
        Assert.Equal(1, statistics.Hits);
        Assert.Equal(0.5, statistics.HitRate);
        Assert.Equal(reused, statistics.TokensReused);
    }

    [Fact]
    public void PromptsSharingInstructionsReuseTheSharedWholeBlocksOnly()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var generator = new TextGenerator(model);
        var a = model.Tokenizer.Encode(Instructions + "Mr. Darcy", true);
        var b = model.Tokenizer.Encode(Instructions + "She was not", true);
        int shared = a.Zip(b).TakeWhile(p => p.First == p.Second).Count();

        generator.Generate(Instructions + "Mr. Darcy", Options);
        var second = generator.Generate(Instructions + "She was not", Options);
        Assert.Equal(shared / PromptPrefixCache.BlockTokens * PromptPrefixCache.BlockTokens, second.CachedTokens);
        Assert.True(second.CachedTokens > 0);
        Assert.Equal(generator.Generate(Instructions + "She was not", Options with { ReusePromptPrefix = false }).TokenIds, second.TokenIds);
    }

    [Fact]
    public void ShortOrDifferentPromptsMissAndKeepNothing()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var generator = new TextGenerator(model);
        generator.Generate("Mr. Darcy", Options);
        Assert.Equal(0, generator.Generate("Mr. Darcy", Options).CachedTokens); // shorter than a block: nothing kept
        generator.Generate(Instructions, Options);
        Assert.Equal(0, generator.Generate("She was not. " + Instructions, Options).CachedTokens);
        Assert.Equal(0, model.PromptCache.Statistics.Hits);
    }

    [Fact]
    public void DisposingTheModelLetsTheIdleCachesGo()
    {
        var model = ModelLoader.Load(RepoPaths.FixtureModel);
        new TextGenerator(model).Generate(Instructions, Options);
        Assert.Equal(1, model.PromptCache.IdleCount);
        model.Dispose();
        // An idle cache holds a reference to the weights: it is let go, so the weights can be freed now.
        Assert.Equal(0, model.PromptCache.IdleCount);
        Assert.Throws<ObjectDisposedException>(() => new TextGenerator(model).Generate(Instructions, Options));
    }

    [Fact]
    public void KeepsAtMostItsLimitOfIdleCaches()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var generator = new TextGenerator(model);
        string[] prompts = ["One. ", "Two. ", "Three. "];
        foreach (var start in prompts) generator.Generate(start + Instructions, Options);
        Assert.Equal(2, model.PromptCache.IdleCount);
        // The least recently used ("One.") was let go; the other two are still held.
        Assert.Equal(0, generator.Generate("One. " + Instructions, Options).CachedTokens);
        Assert.True(generator.Generate("Three. " + Instructions, Options).CachedTokens > 0);
    }
}
