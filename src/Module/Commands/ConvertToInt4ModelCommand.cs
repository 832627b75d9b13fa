using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// ConvertTo-Int4Model: quantizes a float model to INT4 and writes an LlmCpu INT4 model file (.llmc) that loads as a
/// memory map. The model's path binds from the pipeline, so <c>Import-Model x | ConvertTo-Int4Model -Destination y</c> works.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "Int4Model", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Int4ConversionResult))]
public sealed class ConvertToInt4ModelCommand : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();

    /// <summary>The float model: a Hugging Face folder, or any path Import-Model reads.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The .llmc file to write.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    [Parameter]
    [ValidateSet("32", "64", "128", "-1")]
    public int GroupSize { get; set; } = 128;

    [Parameter]
    public SwitchParameter Asymmetric { get; set; }

    /// <summary>How INT4 scales are chosen: RoundToNearest (the default; ggml's Q4_0 rule) or MinimizeError (a scale search per group).</summary>
    [Parameter]
    public Int4Recipe Recipe { get; set; } = Int4Recipe.RoundToNearest;

    /// <summary>The activation mode recorded as the file's default (Int8 or Float32).</summary>
    [Parameter]
    public ActivationMode Activations { get; set; } = ActivationMode.Int8;

    /// <summary>Text to measure the INT4 model against the float model on (perplexity, KL divergence, top-token agreement); the result is embedded in the file.</summary>
    [Parameter]
    public string? EvaluationText { get; set; }

    /// <summary>Overwrite an existing destination file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string source = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path!);
        string destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination!);
        if (!OutputFile.MayWrite(this, destination, Force)) return;
        var format = new Int4Format(GroupSize, Asymmetric.IsPresent, Recipe);
        if (!ShouldProcess(destination, $"Write {format} model converted from '{source}'")) return;
        try
        {
            var result = Int4ModelConverter.Convert(source, destination, format, Activations, overwrite: Force.IsPresent, EvaluationText,
                new CmdletLog(this, activityId: 2), _stop.Token);
            WriteObject(result);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(ErrorMapper.ForLoad(ex, source));
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
