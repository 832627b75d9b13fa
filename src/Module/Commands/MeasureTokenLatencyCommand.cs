using System.Management.Automation;
using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Module.Completion;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Measure-TokenLatency: a model's prompt-processing and generation speed in the shape of llama-bench (pp512, tg128),
/// with per-token latency percentiles and decode measured against the read bandwidth taken in the same run. For ops
/// checks: the objects compare, export and travel like any other.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "TokenLatency", DefaultParameterSetName = ParameterSets.Model)]
[Alias("Measure-LlmTokenLatency")]
[OutputType(typeof(TokenLatencyResult), typeof(TokenLatencySummary))]
public sealed class MeasureTokenLatencyCommand : PSCmdlet
{
    // Model is the default set: PowerShell tries the default set first when binding pipeline input, and a model object
    // also has a Path property that would otherwise bind by name and load the model again.
    private static class ParameterSets
    {
        public const string Model = "Model";
        public const string Path = "Path";
    }

    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.Model, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    /// <summary>A model file or folder to load (any path Import-Model reads), measured as stored, and freed afterwards.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Path, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    public string? Path { get; set; }

    /// <summary>Tokens of the prompt test (pp); 0 skips it.</summary>
    [Parameter]
    [ValidateRange(0, 1 << 20)]
    public int PromptTokens { get; set; } = 512;

    /// <summary>Tokens of the generation test (tg); 0 skips it.</summary>
    [Parameter]
    [ValidateRange(0, 1 << 20)]
    public int GenerateTokens { get; set; } = 128;

    [Parameter]
    [ValidateRange(1, 1000)]
    public int Repetitions { get; set; } = 5;

    /// <summary>Untimed runs before the timed ones.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int WarmUp { get; set; } = 1;

    /// <summary>Worker threads, the calling thread included; 0 means one per logical processor.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Threads { get; set; }

    /// <summary>One summary object (PromptTokensPerSecond, GenerateTokensPerSecond, the tests) instead of one object per test.</summary>
    [Parameter]
    public SwitchParameter Summary { get; set; }

    protected override void ProcessRecord()
    {
        var log = new CmdletLog(this, activityId: 5);
        LanguageModel? loaded = null;
        object target = (object?)Model ?? Path!;
        try
        {
            var model = Model ?? (loaded = ModelLoader.Load(SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path!),
                new LoadOptions { Log = log, Cancellation = _stop.Token }));
            using var pool = WorkerPools.Rent(Threads, WriteWarning);
            WriteVerbose($"Measuring {model.Name} ({model.Precision}) on {pool.Pool.ThreadCount} threads: pp{PromptTokens}, tg{GenerateTokens}, {Repetitions} repetitions after {WarmUp} warm-up.");
            var summary = TokenLatencyBenchmark.Run(model, new TokenLatencyOptions
            {
                PromptTokens = PromptTokens, GenerateTokens = GenerateTokens, Repetitions = Repetitions, WarmUp = WarmUp,
            }, pool.Pool, log, _stop.Token);
            if (Summary) WriteObject(summary);
            else foreach (var test in summary.Tests) WriteObject(test);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(Model is null && ex is not GenerationArgumentException ? ErrorMapper.ForLoad(ex, Path!) : ErrorMapper.ForGeneration(ex, null, target));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, target));
        }
        finally
        {
            log.Complete();
            loaded?.Dispose();
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
