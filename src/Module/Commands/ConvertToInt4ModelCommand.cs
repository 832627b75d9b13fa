using System.Management.Automation;
using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Module.Completion;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// ConvertTo-Int4Model: quantizes a model to INT4 and writes an LlmCpu INT4 model file (.llmc) that loads as a memory
/// map. It converts a model object from the pipeline (<c>Import-Model x | ConvertTo-Int4Model y.llmc</c>) as loaded,
/// or the model at -Path.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "Int4Model", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium,
    DefaultParameterSetName = ParameterSets.Model)]
[OutputType(typeof(Int4ConversionResult))]
[Alias("ConvertTo-LlmInt4Model")]
public sealed class ConvertToInt4ModelCommand : PSCmdlet
{
    // Model is the default set: PowerShell tries the default set first when binding pipeline input, and a model
    // object also has a Path property that would otherwise bind by name and reload the model from disk.
    private static class ParameterSets
    {
        public const string Path = "Path";
        public const string Model = "Model";
    }

    private readonly CancellationTokenSource _stop = new();

    /// <summary>The model to convert: a Hugging Face folder, or any path Import-Model reads.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Path, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    public string? Path { get; set; }

    /// <summary>A loaded model (from Import-Model); its weights are converted as they are held in memory.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Model, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    /// <summary>The .llmc file to write; the one positional parameter, so <c>$model | ConvertTo-Int4Model out.llmc</c> works.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    [Parameter]
    [ValidateSet("32", "64", "128", "-1")]
    public int GroupSize { get; set; } = 128;

    [Parameter]
    public SwitchParameter Asymmetric { get; set; }

    /// <summary>
    /// Group sizes for kinds of layer matrix, the others taking -GroupSize: keys QueryKeyValue, AttentionOutput, GateUp,
    /// Down, or Attention (QueryKeyValue and AttentionOutput) and FeedForward (GateUp and Down); values 32, 64, 128 or -1.
    /// For example <c>-GroupSize 128 -MatrixGroupSize @{ Down = 32; Attention = 64 }</c> (4.25 bits per weight on Llama
    /// shapes). Not with -Recipe Auto, which tries such mixes itself within -GroupSize's budget of bits.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public System.Collections.Hashtable? MatrixGroupSize { get; set; }

    /// <summary>
    /// For -Recipe Auto: give every matrix the same group size. Without it, Auto also tries its chosen recipe in the
    /// other formats within the chosen group size's budget of bits (4.25 bits per weight at 128): zero points, and
    /// finer groups for some kinds of matrix.
    /// </summary>
    [Parameter]
    public SwitchParameter UniformGroupSize { get; set; }

    /// <summary>
    /// How INT4 weights are chosen: RoundToNearest (the default; ggml's Q4_0 rule), MinimizeError (a scale search per
    /// group), Gptq, Awq, SignRound and Teq (calibrated on -CalibrationPath), or Auto (tries recipes and group sizes, measured on -EvaluationText).
    /// </summary>
    [Parameter]
    public Int4Recipe Recipe { get; set; } = Int4Recipe.RoundToNearest;

    /// <summary>The activation mode recorded as the file's default (Int8 or Float32).</summary>
    [Parameter]
    public ActivationMode Activations { get; set; } = ActivationMode.Int8;

    /// <summary>
    /// The output projection's precision: Int4 (groups of 32 with a zero point), Int8 (ggml's Q8_0) or Float16. Not given:
    /// Int4 for a single recipe (fewest bytes for decode to read); Int8 for -Recipe Auto, whose bound is accuracy and whose
    /// bits per weight count the layer matrices (docs/quantization.md has the measurements).
    /// </summary>
    [Parameter]
    [ValidateSet(nameof(OutputPrecision.Int4), nameof(OutputPrecision.Int8), nameof(OutputPrecision.Float16))]
    public string? OutputProjection { get; set; }

    /// <summary>Text to measure the INT4 model against the unquantized model on (perplexity, KL divergence, top-token agreement); the result is embedded in the file.</summary>
    [Parameter]
    public string? EvaluationText { get; set; }

    /// <summary>A text file the calibrated recipes (Gptq, Awq, SignRound, Teq, and Auto's candidates) tune on; default: a built-in sample.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CalibrationPath { get; set; }

    /// <summary>
    /// Tokens of calibration text the calibrated recipes use at most (from 512 to 65536; default 16384). More tokens give
    /// steadier statistics and take proportionally longer; a text that gives fewer is used whole, with a warning.
    /// </summary>
    [Parameter]
    [ValidateRange(CalibrationText.MinimumTokens, CalibrationText.MaximumTokens)]
    public int CalibrationTokens { get; set; } = CalibrationText.DefaultTokens;

    /// <summary>For -Recipe Gptq (and Auto's GPTQ candidates): quantize columns by decreasing input size, with static groups.</summary>
    [Parameter]
    public SwitchParameter ActivationOrder { get; set; }

    /// <summary>For -Recipe Auto: the largest relative perplexity increase accepted (0.01: 1%).</summary>
    [Parameter]
    [ValidateRange(0.0, 10.0)]
    public double MaxAccuracyLoss { get; set; } = 0.01;

    /// <summary>Overwrite an existing destination file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        string? source = Model is null ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path!) : null;
        object target = (object?)Model ?? source!;
        string destination = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Destination!);
        if (!OutputFile.MayWrite(this, destination, Force)) return;
        var format = new Int4Format(GroupSize, Asymmetric.IsPresent, Recipe);
        if (!ShouldProcess(destination, $"Write {format} model converted from '{Model?.Name ?? source}'")) return;
        var log = new CmdletLog(this, activityId: 2);
        var calibration = ReadCalibration();
        if (CalibrationPath != null && calibration == null) return;
        var bound = MyInvocation.BoundParameters;
        MatrixGroupSizes? groupSizes;
        try
        {
            groupSizes = MatrixGroupSize is null ? null : ParseGroupSizes(MatrixGroupSize, GroupSize);
        }
        catch (QuantizationArgumentException ex)
        {
            WriteError(new ErrorRecord(ex, ex.Problem.ToString(), ErrorCategory.InvalidArgument, MatrixGroupSize));
            return;
        }
        var options = new Int4ConversionOptions
        {
            Activations = Activations,
            Overwrite = Force.IsPresent,
            EvaluationText = EvaluationText,
            OutputProjection = OutputProjection is null ? null : Enum.Parse<OutputPrecision>(OutputProjection, ignoreCase: true),
            Calibration = calibration,
            CalibrationTokens = bound.ContainsKey(nameof(CalibrationTokens)) ? CalibrationTokens : null,
            MatrixGroupSizes = groupSizes,
            AutoMixes = !UniformGroupSize.IsPresent,
            MaxAccuracyLoss = MaxAccuracyLoss,
            GptqActivationOrder = ActivationOrder.IsPresent,
            // Auto tries every group size and both symmetries, unless the command line fixes them.
            AutoGroupSizes = bound.ContainsKey(nameof(GroupSize)) ? [GroupSize] : null,
            AutoAsymmetric = bound.ContainsKey(nameof(Asymmetric)) ? Asymmetric.IsPresent : null,
            Log = log,
            Cancellation = _stop.Token,
        };
        try
        {
            var result = Model is null
                ? Int4ModelConverter.Convert(source!, destination, format, options)
                : Int4ModelConverter.Convert(Model, destination, format, options);
            WriteObject(result);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            // A problem with the calibration text points at its file, not at the model.
            var record = ErrorMapper.ForWrite(ex, destination, target);
            if (ex is QuantizationArgumentException { ParamName: nameof(CalibrationPath) } && calibration != null && CalibrationPath != null)
                record = new ErrorRecord(ex, record.FullyQualifiedErrorId, record.CategoryInfo.Category, ResolvedCalibrationPath);
            WriteError(record);
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, target));
        }
        finally
        {
            log.Complete();
        }
    }

    /// <summary>-MatrixGroupSize's entries as group sizes, the kinds not named taking <paramref name="rest"/>.</summary>
    /// <exception cref="QuantizationArgumentException">An unknown kind, or a value that is not a group size.</exception>
    private static MatrixGroupSizes ParseGroupSizes(System.Collections.Hashtable table, int rest)
    {
        var entries = new List<KeyValuePair<string, int>>();
        foreach (System.Collections.DictionaryEntry entry in table)
        {
            string name = entry.Key?.ToString() ?? "";
            int size;
            try
            {
                size = LanguagePrimitives.ConvertTo<int>(entry.Value);
            }
            catch (PSInvalidCastException)
            {
                throw new QuantizationArgumentException(QuantizationProblem.InvalidMatrixGroupSize, nameof(MatrixGroupSize),
                    $"The group size given for '{name}' ('{entry.Value}') is not a number; a group size is 32, 64, 128 or -1 (per channel).");
            }
            entries.Add(new(name, size));
        }
        return MatrixGroupSizes.Parse(entries, rest);
    }

    private string? ResolvedCalibrationPath => CalibrationPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(CalibrationPath);

    /// <summary>The -CalibrationPath text; null (after writing the error) when the file cannot be read, or when none is given.</summary>
    private CalibrationText? ReadCalibration()
    {
        if (CalibrationPath is null) return null;
        string path = ResolvedCalibrationPath!;
        try
        {
            return CalibrationText.FromFile(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            WriteError(new ErrorRecord(ex, ErrorIds.TextNotFound, ErrorCategory.ObjectNotFound, path));
            return null;
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
