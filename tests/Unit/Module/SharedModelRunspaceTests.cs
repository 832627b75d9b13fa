using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>
/// One model loaded once and used by eight runspaces at the same moment, as a script fanning work out would: each
/// generation gets exactly the tokens it gets alone with the same seed (no state leaks between sessions through the
/// shared weights or the pooled KV caches), through separate runspaces and through ForEach-Object -Parallel.
/// </summary>
public sealed class SharedModelRunspaceTests : IDisposable
{
    private const int Runspaces = 8;
    private readonly PowerShellSession _ps = new();
    private readonly LanguageModel _model;

    public SharedModelRunspaceTests() => _model = (LanguageModel)_ps.Run("Import-Model").Output.Single().BaseObject;

    public void Dispose() => _ps.Dispose();

    private static readonly string[] Prompts = ["It is a truth", "Mr. Darcy", "She was not", "The evening passed", "Emma", "Her father", "In vain", "Elizabeth"];

    private int[][] Alone() => Prompts.Select((p, i) =>
        ((GenerationResult)_ps.Run($"Invoke-Generation -Model $m -Prompt $p -MaxTokens 24 -Temperature 1 -Seed {i}",
            new Dictionary<string, object?> { ["m"] = _model, ["p"] = p }).Output.Single().BaseObject).TokenIds.ToArray()).ToArray();

    [Fact]
    public void EightRunspacesAtOnceGetTheirSoloTokens()
    {
        var alone = Alone();
        var sessions = Enumerable.Range(0, Runspaces).Select(_ => new PowerShellSession()).ToArray();
        try
        {
            using var start = new Barrier(Runspaces);
            var results = new int[Runspaces][];
            var threads = Enumerable.Range(0, Runspaces).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                var run = sessions[i].Run($"Invoke-Generation -Model $m -Prompt $p -MaxTokens 24 -Temperature 1 -Seed {i}",
                    new Dictionary<string, object?> { ["m"] = _model, ["p"] = Prompts[i] });
                results[i] = ((GenerationResult)run.Output.Single().BaseObject).TokenIds.ToArray();
            })).ToArray();
            foreach (var thread in threads) thread.Start();
            foreach (var thread in threads) thread.Join();
            for (int i = 0; i < Runspaces; i++) Assert.Equal(alone[i], results[i]);
        }
        finally
        {
            foreach (var session in sessions) session.Dispose();
        }
    }

    [Fact]
    public void ForEachObjectParallelGetsTheSoloTokens()
    {
        var alone = Alone();
        var run = _ps.Run("""
            0..7 | ForEach-Object -ThrottleLimit 8 -Parallel {
                Import-Module $using:manifest
                $r = Invoke-Generation -Model $using:m -Prompt ($using:prompts)[$_] -MaxTokens 24 -Temperature 1 -Seed $_
                [pscustomobject]@{ Index = $_; Tokens = [int[]]$r.TokenIds }
            }
            """, new Dictionary<string, object?> { ["m"] = _model, ["prompts"] = Prompts, ["manifest"] = RepoPaths.ModuleManifest });
        Assert.Empty(run.Errors);
        Assert.Equal(Runspaces, run.Output.Count);
        foreach (var item in run.Output)
        {
            int index = System.Management.Automation.LanguagePrimitives.ConvertTo<int>(item.Properties["Index"].Value);
            Assert.Equal(alone[index], System.Management.Automation.LanguagePrimitives.ConvertTo<int[]>(item.Properties["Tokens"].Value));
        }
    }
}
