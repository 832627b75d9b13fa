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
    public void APromptLongerThanTheContextIsAnInvalidArgumentErrorTargetingAShortPreview()
    {
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt ('word ' * 2000) -MaxTokens 1");
        var error = Assert.Single(result.Errors);
        Assert.Equal("GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        var target = Assert.IsType<string>(error.TargetObject);
        Assert.StartsWith("word word", target);
        Assert.True(target.Length <= 61, $"the target is {target.Length} characters");
    }

    [Fact]
    public void AModelThatComputesNaNIsAModelNumericErrorNamingTheLayer()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-nan-").FullName;
        try
        {
            string path = Path.Combine(folder, "broken.gguf");
            using (var original = LlmCpu.Engine.Models.ModelLoader.Load(RepoPaths.FixtureModel))
            using (var broken = TransformedModel.Create(original, row => row, poison: (2, float.NaN)))
                LlmCpu.Engine.Formats.Gguf.GgufModelExporter.Export(broken, path, new LlmCpu.Engine.Formats.Gguf.GgufExportOptions { Type = LlmCpu.Engine.Formats.Gguf.GgmlType.F32 });
            var result = _ps.Run("Import-Model $p | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 4", new Dictionary<string, object?> { ["p"] = path });
            Assert.Empty(result.Output);
            var error = Assert.Single(result.Errors);
            Assert.Equal("ModelNumericError,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidResult, error.CategoryInfo.Category);
            Assert.Contains("Layer 2", error.Exception.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void AModelNeverBindsToThePrompt()
    {
        // The model object once converted to its display string and became the prompt.
        var result = _ps.Run("Import-Model | Invoke-Generation -MaxTokens 2");
        Assert.Empty(result.Output);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("InputObjectMissingMandatory,", error.FullyQualifiedErrorId);
        Assert.Contains("Prompt", error.Exception.Message);
    }

    [Fact]
    public void ObjectsWithModelAndPromptPropertiesBindBoth()
    {
        var result = _ps.Run("""
            $m = Import-Model
            [pscustomobject]@{ Model = $m; Prompt = 'Mr. Darcy' }, [pscustomobject]@{ Model = $m; Prompt = 'She was not' } |
                Invoke-Generation -MaxTokens 3 -Seed 1
            """);
        Assert.Empty(result.Errors);
        Assert.Equal(["Mr. Darcy", "She was not"], result.Output.Select(o => ((GenerationResult)o.BaseObject).Prompt));
    }

    [Fact]
    public void ARemovedModelIsAModelDisposedErrorNotACrash()
    {
        var result = _ps.Run("""
            $m = Import-Model
            $m | Remove-Model
            $m | Remove-Model
            $m | Invoke-Generation -Prompt 'x' -MaxTokens 2
            $n = Import-Model
            $n.Dispose()
            $n | Invoke-Generation -Prompt 'x' -MaxTokens 2
            $m.IsDisposed
            """);
        Assert.Equal(2, result.Errors.Count);
        Assert.All(result.Errors, e =>
        {
            Assert.Equal("ModelDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidOperation, e.CategoryInfo.Category);
            Assert.Contains("removed", e.Exception.Message);
        });
        Assert.Equal(true, Assert.Single(result.Output).BaseObject);
    }

    [Fact]
    public void ThreadsAboveTheProcessorCountAreCappedWithAWarning()
    {
        int before = System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt 'She was not' -Threads 999 -MaxTokens 4 -Temperature 0 3>&1");
        Assert.Empty(result.Errors);
        var warning = Assert.IsType<WarningRecord>(result.Output[0].BaseObject);
        Assert.Contains($"using {Environment.ProcessorCount}", warning.Message);
        Assert.IsType<GenerationResult>(result.Output[1].BaseObject);
        int after = System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
        Assert.True(after - before < 50, $"the process went from {before} to {after} threads");
    }

    [Fact]
    public void WorkerPoolsDoNotPileUpOnePerThreadCount()
    {
        var result = _ps.Run("""
            $m = Import-Model
            foreach ($t in 1, 2, 1, 3, 1, 0) { $null = $m | Invoke-Generation -Prompt 'x' -MaxTokens 1 -Threads $t }
            $pools = (Get-Module LlmCpu).ImplementingAssembly.GetType('LlmCpu.Module.Internal.WorkerPools')
            $pools.GetProperty('LivePools', [System.Reflection.BindingFlags]'NonPublic,Static').GetValue($null)
            """);
        Assert.Empty(result.Errors);
        Assert.InRange((int)result.Output.Last().BaseObject, 0, 1);
    }

    [Fact]
    public void SamplingParametersReachTheSampler()
    {
        // Top-k 1 and a tiny top-p both leave only the most likely token: the greedy continuation, at any temperature
        // and seed, and on one thread as on all.
        var result = _ps.Run("""
            $m = Import-Model
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -Temperature 0).Text
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -Temperature 1.5 -TopK 1 -Seed 5).Text
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -Temperature 1.5 -TopK 0 -TopP 0 -Seed 6).Text
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -Temperature 0 -Threads 1).Text
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -Temperature 3 -TopK 0 -TopP 1 -Seed 7).Text
            """);
        Assert.Empty(result.Errors);
        var texts = result.Output.Select(o => (string)o.BaseObject).ToArray();
        Assert.Equal(texts[0], texts[1]);
        Assert.Equal(texts[0], texts[2]);
        Assert.Equal(texts[0], texts[3]);
        Assert.NotEqual(texts[0], texts[4]); // temperature 3 over the whole vocabulary: not the greedy text
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
