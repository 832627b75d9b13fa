using System.Management.Automation;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class MeasureTokenLatencyCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void MeasuresAModelFromThePipelineAsLlamaBenchNamesTheTests()
    {
        var result = _ps.Run("Import-Model | Measure-TokenLatency -PromptTokens 32 -GenerateTokens 8 -Repetitions 2 -WarmUp 0 -Threads 1");
        Assert.Empty(result.Errors);
        var tests = result.Output.Select(o => Assert.IsType<TokenLatencyResult>(o.BaseObject)).ToArray();
        Assert.Equal(["pp32", "tg8"], tests.Select(t => t.Test));
        Assert.All(tests, t => Assert.Equal(1, t.Threads));
        Assert.NotNull(tests[1].FractionOfBandwidth);
    }

    [Fact]
    public void SummaryAndPathWork()
    {
        var result = _ps.Run("Measure-TokenLatency -Path (Import-Model).Path -PromptTokens 16 -GenerateTokens 4 -Repetitions 1 -Summary");
        Assert.Empty(result.Errors);
        var summary = Assert.IsType<TokenLatencySummary>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("austen-llama", summary.Model);
        Assert.Equal(2, summary.Tests.Count);
        Assert.True(summary.PromptTokensPerSecond > 0 && summary.GenerateTokensPerSecond > 0);
    }

    [Fact]
    public void AModelObjectIsMeasuredAsItIsNotReloadedFromItsPath()
    {
        // A removed model cannot be measured; were it reloaded from its Path property, this would succeed.
        var result = _ps.Run("$m = Import-Model; $m | Remove-Model; $m | Measure-TokenLatency -PromptTokens 8 -GenerateTokens 2 -Repetitions 1");
        Assert.Empty(result.Output);
        Assert.Equal("ModelDisposed,LlmCpu.Module.Commands.MeasureTokenLatencyCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void AnImpossibleTestIsAnInvalidArgument()
    {
        var result = _ps.Run("Import-Model | Measure-TokenLatency -PromptTokens 5000 -Repetitions 1");
        var error = Assert.Single(result.Errors);
        Assert.Equal("GenerationArgumentInvalid,LlmCpu.Module.Commands.MeasureTokenLatencyCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }
}
