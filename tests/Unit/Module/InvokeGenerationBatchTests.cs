using System.Management.Automation;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>Several prompts piped into one Invoke-Generation run as a batch: same tokens as one at a time, input order unless -Unordered, errors per prompt.</summary>
public sealed class InvokeGenerationBatchTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    private const string Prompts = "$prompts = 'She was not', 'Mr. Darcy', 'The evening passed', 'It is a truth', 'Elizabeth'";

    [Fact]
    public void ABatchGivesEachPromptItsTokensAloneInInputOrder()
    {
        var result = _ps.Run($"""
            $m = Import-Model
            {Prompts}
            $alone = $prompts | Invoke-Generation -Model $m -MaxTokens 20 -Seed 7 -Temperature 0.9 -BatchSize 1
            $batch = $prompts | Invoke-Generation -Model $m -MaxTokens 20 -Seed 7 -Temperature 0.9 -BatchSize 3
            $alone; $batch
            """);
        Assert.Empty(result.Errors);
        var results = result.Output.Select(o => (GenerationResult)o.BaseObject).ToArray();
        Assert.Equal(10, results.Length);
        var (alone, batch) = (results[..5], results[5..]);
        Assert.Equal(["She was not", "Mr. Darcy", "The evening passed", "It is a truth", "Elizabeth"], batch.Select(r => r.Prompt));
        for (int i = 0; i < 5; i++) Assert.Equal(alone[i].TokenIds, batch[i].TokenIds);
    }

    /// <summary>Results and errors as one sequence: the prompt of each result, "error" for each error.</summary>
    private string[] Sequence(string parameters)
    {
        var result = _ps.Run($$"""
            $m = Import-Model
            'She was not', ('word ' * 2000), 'Mr. Darcy' | Invoke-Generation -Model $m -MaxTokens 16 -Temperature 0 {{parameters}} 2>&1 |
                ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { "error $($_.FullyQualifiedErrorId)" } else { $_.Prompt } }
            """);
        Assert.Empty(result.Errors);
        return [.. result.Output.Select(o => (string)o.BaseObject)];
    }

    [Fact]
    public void AFailedPromptIsAnErrorInItsPlaceAndTheOthersRun()
    {
        const string error = "error GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand";
        Assert.Equal(["She was not", error, "Mr. Darcy"], Sequence(""));
        // Unordered: the error is known before any prompt runs, so it comes first.
        var unordered = Sequence("-Unordered");
        Assert.Equal(error, unordered[0]);
        Assert.Equal(["Mr. Darcy", "She was not"], unordered[1..].Order());
    }

    [Fact]
    public void StreamedPiecesOfABatchCarryTheirPromptsIndex()
    {
        var result = _ps.Run($"""
            $m = Import-Model
            {Prompts}
            $prompts | Invoke-Generation -Model $m -MaxTokens 12 -Seed 3 -Stream -PassThru
            """);
        Assert.Empty(result.Errors);
        var pieces = result.Output.Select(o => o.BaseObject).OfType<GenerationPiece>().ToArray();
        var results = result.Output.Select(o => o.BaseObject).OfType<GenerationResult>().ToArray();
        Assert.Equal(5, results.Length);
        for (int i = 0; i < results.Length; i++) Assert.Equal(results[i].Text, string.Concat(pieces.Where(p => p.PromptIndex == i).Select(p => p.Text)));
        // The prompts advanced together: pieces of different prompts interleave.
        Assert.NotEqual(pieces.Select(p => p.PromptIndex).Order(), pieces.Select(p => p.PromptIndex));
    }

    /// <summary>
    /// A pool of three blocks (64 positions each) for two answers of 100 tokens: the second prompt's answer finds no
    /// block at position 64 and ends there with ContextFull and a warning; the first goes on to its limit. A prompt too
    /// long for the whole pool is a KvCacheExhausted error in its place, once nothing else runs.
    /// </summary>
    [Fact]
    public void APoolTooSmallForTheBatchEndsOnePromptWithAWarningAndTheOthersFinish()
    {
        var result = _ps.Run("""
            $m = Import-Model -KvCacheMemory (3 * 2 * 8 * 64 * 64 * 4)
            $long = 'It is a truth universally acknowledged. ' * 20
            'She was not', 'She was not', $long | Invoke-Generation -Model $m -MaxTokens 100 -Temperature 0 -BatchSize 2 `
                -LogitBias @{ 2 = [double]::NegativeInfinity } -WarningVariable warnings -WarningAction SilentlyContinue
            $warnings
            """);
        var error = Assert.Single(result.Errors);
        Assert.Equal("KvCacheExhausted,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(System.Management.Automation.ErrorCategory.LimitsExceeded, error.CategoryInfo.Category);
        var results = result.Output.Select(o => o.BaseObject).OfType<GenerationResult>().ToArray();
        Assert.Equal(2, results.Length);
        Assert.Equal(StopReason.MaxTokens, results[0].StopReason);
        Assert.Equal(100, results[0].GeneratedTokens);
        Assert.Equal(StopReason.ContextFull, results[1].StopReason);
        Assert.Equal(64 - results[1].PromptTokens + 1, results[1].GeneratedTokens);
        Assert.Equal(results[0].TokenIds.Take(results[1].GeneratedTokens), results[1].TokenIds);
        var warning = Assert.Single(result.Output.Select(o => o.BaseObject).OfType<WarningRecord>());
        Assert.StartsWith("Prompt 1 stopped after", warning.Message);
        Assert.Contains("KV cache", warning.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void TheBatchSizeIsOneToSixtyFour(int size)
    {
        var result = _ps.Run($"'a', 'b' | Invoke-Generation -Model (Import-Model) -MaxTokens 1 -BatchSize {size}");
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("ParameterArgumentValidationError", error.FullyQualifiedErrorId);
    }
}
