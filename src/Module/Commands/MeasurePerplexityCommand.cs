using System.Management.Automation;
using System.Text;
using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Measure-Perplexity: a model's perplexity on a text by llama-perplexity's convention, and with -Reference the figures
/// of its KL-divergence mode (how far a quantized model's predictions lie from the original's). Text files come from
/// -Path or the pipeline (Get-ChildItem), text itself from -Text.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "Perplexity", DefaultParameterSetName = ParameterSets.Path)]
[Alias("Measure-LlmPerplexity")]
[OutputType(typeof(PerplexityResult))]
public sealed class MeasurePerplexityCommand : PSCmdlet
{
    // Path is the default set: with neither -Path nor -Text on the command line, file objects from the pipeline bind
    // -Path by property name.
    private static class ParameterSets
    {
        public const string Path = "Path";
        public const string Text = "Text";
    }

    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    /// <summary>A text file; file items from the pipeline bind by their FullName or PSPath.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Path, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Text)]
    [ValidateNotNullOrEmpty]
    public string? Text { get; set; }

    /// <summary>Tokens per window; by default the model's context.</summary>
    [Parameter]
    [ValidateRange(PerplexityEvaluator.MinimumContextLength, int.MaxValue)]
    public int ContextLength { get; set; }

    /// <summary>The model to compare with (KL divergence and the rest), usually the unquantized original.</summary>
    [Parameter]
    [ValidateNotNull]
    public LanguageModel? Reference { get; set; }

    /// <summary>Worker threads, the calling thread included; 0 means one per logical processor.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Threads { get; set; }

    protected override void ProcessRecord()
    {
        var log = new CmdletLog(this, activityId: 6);
        string? path = Path is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        try
        {
            string text = path is null ? Text! : ReadText(path);
            using var pool = WorkerPools.Rent(Threads, WriteWarning);
            var result = PerplexityEvaluator.Measure(Model!, text, new PerplexityOptions
            {
                ContextLength = ContextLength > 0 ? ContextLength : null, Reference = Reference, Source = path,
            }, pool.Pool, log, _stop.Token);
            WriteObject(result);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            WriteError(new ErrorRecord(ex, ErrorIds.TextNotFound, ErrorCategory.ObjectNotFound, path));
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(ErrorMapper.ForGeneration(ex, null, (object?)path ?? Model));
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

    /// <summary>
    /// The file's text as llama-perplexity reads its -f file: whole, less one final line feed (a text editor's last
    /// newline would otherwise be a token of its own).
    /// </summary>
    private static string ReadText(string path)
    {
        string text = File.ReadAllText(path, Encoding.UTF8);
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    protected override void StopProcessing() => _stop.Cancel();
}
