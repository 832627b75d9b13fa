using System.Diagnostics;
using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// New-SyntheticModel: writes a random-weight model with the exact shapes of a real one (TinyLlama-1.1B, Llama-2-7B)
/// for speed and memory checks, without ever holding an FP32 copy of the model. Weights are random; the text it
/// generates is noise. Uses the bundled model's tokenizer.
/// </summary>
[Cmdlet(VerbsCommon.New, "SyntheticModel", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class NewSyntheticModelCommand : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateSet("TinyLlama-1.1B", "Llama-2-7B", IgnoreCase = true)]
    public string? Shape { get; set; }

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    [Parameter]
    [ValidateSet("32", "64", "128", "-1")]
    public int GroupSize { get; set; } = 128;

    [Parameter]
    public SwitchParameter Asymmetric { get; set; }

    /// <summary>Seed of the random weights: the same seed writes the same weights.</summary>
    [Parameter]
    public int Seed { get; set; } = 1;

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination!);
        if (File.Exists(destination) && !Force)
        {
            WriteError(new ErrorRecord(new IOException($"'{destination}' exists; use -Force to overwrite it."), ErrorIds.DestinationExists,
                ErrorCategory.ResourceExists, destination));
            return;
        }
        var shape = SyntheticShape.Find(Shape!);
        var format = new Int4Format(GroupSize, Asymmetric.IsPresent);
        if (!ShouldProcess(destination, $"Write a random-weight {shape.Name} model ({format})")) return;
        string tokenizer = Path.Combine(ModulePaths.BundledModel, "tokenizer.model");
        try
        {
            var clock = Stopwatch.StartNew();
            SyntheticModelWriter.WriteLlmc(shape, destination, format, File.ReadAllBytes(tokenizer), Seed, Force.IsPresent,
                new CmdletLog(this, activityId: 3), _stop.Token);
            WriteVerbose($"Wrote {shape.Name} ({format}) to '{destination}' in {clock.Elapsed.TotalSeconds:F1} s.");
            WriteObject(new FileInfo(destination));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(new ErrorRecord(ex, ErrorIds.WriteFailed, ErrorCategory.WriteError, destination));
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
