using System.Management.Automation;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class InvokeGenerationCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly FixtureReference _reference = FixtureReference.Load();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void ModelFromThePipelineGreedyMatchesTheReference()
    {
        var prompt = _reference.Prompts[0];
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt $p -Temperature 0 -MaxTokens 32", new Dictionary<string, object?> { ["p"] = prompt.Text });
        Assert.Empty(result.Errors);
        var generation = Assert.IsType<GenerationResult>(Assert.Single(result.Output).BaseObject);
        int untilEos = Array.IndexOf(prompt.Greedy, 2) is var eos and >= 0 ? eos : prompt.Greedy.Length;
        Assert.Equal(prompt.Greedy.Take(untilEos), generation.TokenIds);
        Assert.Equal(prompt.Text, generation.Prompt);
        Assert.Equal(prompt.Ids.Length, generation.PromptTokens);
        Assert.False(string.IsNullOrWhiteSpace(generation.Text));
    }

    [Fact]
    public void PromptsBindFromStringsAndFromPropertyNames()
    {
        var result = _ps.Run("""
            $m = Import-Model
            'She was not', 'Mr. Darcy' | Invoke-Generation -Model $m -MaxTokens 4 -Seed 1
            [pscustomobject]@{ Prompt = 'The evening passed' } | Invoke-Generation -Model $m -MaxTokens 4 -Seed 1
            """);
        Assert.Empty(result.Errors);
        var prompts = result.Output.Select(o => ((GenerationResult)o.BaseObject).Prompt).ToArray();
        Assert.Equal(["She was not", "Mr. Darcy", "The evening passed"], prompts);
        Assert.All(result.Output, o => Assert.Equal(4, ((GenerationResult)o.BaseObject).GeneratedTokens));
    }

    [Fact]
    public void TheSameSeedGivesTheSameText()
    {
        var result = _ps.Run("$m = Import-Model; 1..2 | ForEach-Object { $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 24 -Temperature 1 -Seed 1234 }");
        Assert.Empty(result.Errors);
        var texts = result.Output.Select(o => ((GenerationResult)o.BaseObject).Text).ToArray();
        Assert.Equal(texts[0], texts[1]);
        Assert.Equal(1234, ((GenerationResult)result.Output[0].BaseObject).Seed);
    }

    [Fact]
    public void APromptLongerThanTheContextIsAnInvalidArgumentError()
    {
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt ('word ' * 2000) -MaxTokens 1");
        var error = Assert.Single(result.Errors);
        Assert.Equal("GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [Fact]
    public void OutOfRangeParametersAreRefusedByValidation()
    {
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt 'x' -Temperature -1");
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("ParameterArgumentValidationError,", error.FullyQualifiedErrorId);
        Assert.Contains("Temperature", error.Exception.Message);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void StoppingThePipelineStopsGenerationPromptly()
    {
        using var runspace = System.Management.Automation.Runspaces.RunspaceFactory.CreateRunspace(System.Management.Automation.Runspaces.InitialSessionState.CreateDefault2());
        runspace.Open();
        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        ps.AddScript($"Import-Module '{RepoPaths.ModuleManifest}'; $m = Import-Model; while ($true) {{ $m | Invoke-Generation -Prompt 'She' -MaxTokens 250 -Temperature 1 }}");
        var handle = ps.BeginInvoke();
        Thread.Sleep(1500);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ps.Stop();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stop took {clock.Elapsed}");
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.True(handle.IsCompleted);
    }
}
