using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>Invoke-Generation through a hosted runspace: repeated instructions come from the model's prompt prefix cache, and -Verbose says so.</summary>
public sealed class InvokeGenerationPromptCacheTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void RepeatedInstructionsAreReusedAndTheHitRateIsReported()
    {
        var result = _ps.Run("""
            $m = Import-Model
            $instructions = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' * 4
            foreach ($q in 'Mr. Darcy', 'She was not') {
                $m | Invoke-Generation -Prompt ($instructions + $q) -MaxTokens 4 -Temperature 0 -Verbose 4>&1
            }
            $m | Remove-Model
            """);
        Assert.Empty(result.Errors);
        var results = result.Output.Select(o => o.BaseObject).OfType<GenerationResult>().ToArray();
        var verbose = result.Output.Select(o => o.BaseObject).OfType<System.Management.Automation.VerboseRecord>().Select(v => v.Message).ToArray();
        Assert.Equal(2, results.Length);
        Assert.Equal(0, results[0].CachedTokens);
        Assert.True(results[1].CachedTokens >= 64, $"{results[1].CachedTokens} tokens reused");
        Assert.Equal(0, results[1].CachedTokens % 64);
        Assert.Contains(verbose, m => m.StartsWith($"Prompt prefix cache: {results[1].CachedTokens} of {results[1].CachedTokens + results[1].PromptTokens} prompt tokens reused", StringComparison.Ordinal)
                                      && m.Contains("so far 1 of 2 prompts hit (50", StringComparison.Ordinal));
    }
}
