using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>
/// The KV cache pool through the cmdlets: Import-Model sizes it and the model reports it (properties and the list
/// view), INT8 storage, an exhausted pool is the error KvCacheExhausted, -NoPromptCache runs the whole prompt, and -ContextShift
/// runs past the context.
/// </summary>
public sealed class KvCacheParametersTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void ImportModelSizesThePoolAndTheModelReportsIt()
    {
        var result = _ps.Run("""
            $m = Import-Model -ContextLength 128 -MaxSessions 3 -KvCacheType Float16 -PromptCacheSize 0
            $m
            ($m | Format-List | Out-String)
            $null = $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 2 -Temperature 0
            $m.KvCacheBlocksInUse
            $m | Remove-Model
            """);
        Assert.Empty(result.Errors);
        var model = result.Output.Select(o => o.BaseObject).OfType<LanguageModel>().Single();
        Assert.Equal(128, model.ContextLength);
        Assert.Equal(6, model.KvCacheBlocks);
        Assert.Equal(KvCacheType.Float16, model.KvCacheType);
        Assert.Equal(0, model.PromptCache.MaxEntries);
        string view = result.Output.Select(o => o.BaseObject).OfType<string>().Single(s => s.Contains("KV cache"));
        Assert.Contains("of 6 blocks of 64 positions in use", view);
        Assert.Contains("(Float16)", view);
        Assert.Contains("Prompt cache", view);
        Assert.Equal(0, result.Output.Select(o => o.BaseObject).OfType<int>().Last()); // nothing kept: the prompt cache is off
    }

    [Fact]
    public void ImportModelStoresTheKvCacheAsInt8()
    {
        var result = _ps.Run("""
            $m = Import-Model -ContextLength 128 -MaxSessions 3 -KvCacheType Int8 -PromptCacheSize 0
            $m
            ($m | Format-List | Out-String)
            $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 8 -Temperature 0 -LogitBias @{ 2 = [double]::NegativeInfinity }
            $m | Remove-Model
            """);
        Assert.Empty(result.Errors);
        var model = result.Output.Select(o => o.BaseObject).OfType<LanguageModel>().Single();
        var c = model.Config;
        Assert.Equal(KvCacheType.Int8, model.KvCacheType);
        Assert.Equal(6, model.KvCacheBlocks);
        // A byte a key or value, and an FP32 scale per position and key/value head for each.
        Assert.Equal(6L * c.LayerCount * 64 * (2 * c.KvDim + 2 * c.KvHeadCount * sizeof(float)), model.KvCacheMaxBytes);
        string view = result.Output.Select(o => o.BaseObject).OfType<string>().Single(s => s.Contains("KV cache"));
        Assert.Contains("(Int8)", view);
        Assert.Equal(8, result.Output.Select(o => o.BaseObject).OfType<GenerationResult>().Single().GeneratedTokens);
    }

    [Fact]
    public void AnExhaustedPoolIsTheErrorKvCacheExhausted()
    {
        var result = _ps.Run("""
            $m = Import-Model -ContextLength 64 -MaxSessions 1
            $chat = New-ChatSession -Model $m -Template ChatML
            $null = Invoke-Generation -Session $chat -Prompt 'Mr. Darcy' -MaxTokens 4 -Temperature 0
            Invoke-Generation -Model $m -Prompt 'She was not' -MaxTokens 4 -Temperature 0 -NoPromptCache
            Remove-ChatSession $chat
            $m | Remove-Model
            """);
        var error = Assert.Single(result.Errors);
        Assert.Equal("KvCacheExhausted", error.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.LimitsExceeded, error.CategoryInfo.Category);
        Assert.Contains("0 of 1 are free", error.Exception.Message);
    }

    [Fact]
    public void AMemoryTooSmallForOneBlockIsAClearError()
    {
        var result = _ps.Run("Import-Model -KvCacheMemory 1000");
        var error = Assert.Single(result.Errors);
        Assert.Equal("KvCacheArgumentInvalid", error.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [Fact]
    public void NoPromptCacheAndContextShiftReachTheGenerator()
    {
        var result = _ps.Run("""
            $m = Import-Model -ContextLength 128
            $instructions = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' * 4
            $m | Invoke-Generation -Prompt $instructions -MaxTokens 2 -Temperature 0
            $m | Invoke-Generation -Prompt $instructions -MaxTokens 2 -Temperature 0 -NoPromptCache
            $noEos = @{ 2 = [double]::NegativeInfinity }
            $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 200 -Temperature 0 -LogitBias $noEos
            $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 200 -Temperature 0 -LogitBias $noEos -ContextShift -KeepTokens 1
            $m | Remove-Model
            """);
        Assert.Empty(result.Errors);
        var results = result.Output.Select(o => o.BaseObject).OfType<GenerationResult>().ToArray();
        Assert.True(results[0].GeneratedTokens > 0);
        Assert.Equal(0, results[1].CachedTokens);
        Assert.Equal(StopReason.ContextFull, results[2].StopReason);
        Assert.Equal(StopReason.MaxTokens, results[3].StopReason);
        Assert.Equal(200, results[3].GeneratedTokens);
    }
}
