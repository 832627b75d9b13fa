using System.Diagnostics;
using System.Management.Automation;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// New-SyntheticModel: writes a random-weight model with the exact shapes of a real one (TinyLlama-1.1B, Llama-2-7B;
/// Pythia-1.4B, Falcon-7B and GPT-J-6B as GGUF only) for speed and memory checks, without ever holding an FP32 copy
/// of the model. Weights are random; the text it generates is noise. Uses the bundled model's tokenizer.
/// </summary>
[Cmdlet(VerbsCommon.New, "SyntheticModel", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
[Alias("New-LlmSyntheticModel")]
public sealed class NewSyntheticModelCommand : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateSet("TinyLlama-1.1B", "Llama-2-7B", "Pythia-1.4B", "Falcon-7B", "GPT-J-6B", IgnoreCase = true)]
    public string? Shape { get; set; }

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Llmc (LlmCpu INT4 file, the default), GgufQ4_0 or GgufF16 (llama.cpp's format).</summary>
    [Parameter]
    [ValidateSet("Llmc", "GgufQ4_0", "GgufF16", IgnoreCase = true)]
    public string Format { get; set; } = "Llmc";

    /// <summary>INT4 group size of an Llmc file.</summary>
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
        if (!OutputFile.MayWrite(this, destination, Force)) return;
        var shape = SyntheticShape.Find(Shape!);
        var format = new Int4Format(GroupSize, Asymmetric.IsPresent);
        bool llmc = Format.Equals("Llmc", StringComparison.OrdinalIgnoreCase);
        if (llmc && !shape.WritesAsLlmc)
        {
            WriteError(new ErrorRecord(new ArgumentException($"{shape.Name} ({shape.Architecture}) is written as a GGUF file only: use -Format GgufQ4_0 or GgufF16, and ConvertTo-Int4Model for an .llmc file."),
                ErrorIds.SyntheticShapeNeedsGguf, ErrorCategory.InvalidArgument, Shape));
            return;
        }
        string description = llmc ? format.ToString() : Format;
        if (!ShouldProcess(destination, $"Write a random-weight {shape.Name} model ({description})")) return;
        string tokenizer = Path.Combine(ModulePaths.BundledModel, "tokenizer.model");
        var log = new CmdletLog(this, activityId: 3);
        try
        {
            var clock = Stopwatch.StartNew();
            byte[] tokenizerBytes = File.ReadAllBytes(tokenizer);
            switch (Format.ToLowerInvariant())
            {
                case "ggufq4_0": SyntheticGgufWriter.Write(shape, destination, GgmlType.Q4_0, tokenizerBytes, Seed, Force.IsPresent, log, _stop.Token); break;
                case "gguff16": SyntheticGgufWriter.Write(shape, destination, GgmlType.F16, tokenizerBytes, Seed, Force.IsPresent, log, _stop.Token); break;
                default: SyntheticModelWriter.WriteLlmc(shape, destination, format, tokenizerBytes, Seed, Force.IsPresent, log, _stop.Token); break;
            }
            WriteVerbose($"Wrote {shape.Name} ({description}) to '{destination}' in {clock.Elapsed.TotalSeconds:F1} s.");
            OutputFile.WriteItem(this, destination);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(ErrorMapper.ForWrite(ex, destination, Shape));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, Shape));
        }
        finally
        {
            log.Complete();
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
