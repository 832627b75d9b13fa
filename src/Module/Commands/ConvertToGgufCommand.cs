using System.Management.Automation;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// ConvertTo-Gguf: writes a loaded model as a Llama GGUF file (F16, Q8_0 or Q4_0) that llama.cpp loads, with
/// llama.cpp's rotary row order for Q and K and the tokenizer in GGUF metadata.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "Gguf", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileInfo))]
[Alias("ConvertTo-LlmGguf")]
public sealed class ConvertToGgufCommand : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Type of the layer matrices.</summary>
    [Parameter]
    [ValidateSet("F32", "F16", "Q8_0", "Q4_0")]
    public string Type { get; set; } = "F16";

    /// <summary>Quantize the token embedding and output projection too (otherwise they stay F16).</summary>
    [Parameter]
    public SwitchParameter QuantizeEmbeddingAndOutput { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination!);
        if (!OutputFile.MayWrite(this, destination, Force)) return;
        if (!ShouldProcess(destination, $"Write {Model!.Name} as a {Type} GGUF")) return;
        var log = new CmdletLog(this, activityId: 4);
        try
        {
            GgufModelExporter.Export(Model!, destination, new GgufExportOptions
            {
                Type = Enum.Parse<GgmlType>(Type),
                QuantizeEmbeddingAndOutput = QuantizeEmbeddingAndOutput.IsPresent,
                Overwrite = Force.IsPresent,
                Log = log,
                Cancellation = _stop.Token,
            });
            OutputFile.WriteItem(this, destination);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(ErrorMapper.ForWrite(ex, destination, Model));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, Model));
        }
        finally
        {
            log.Complete();
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
