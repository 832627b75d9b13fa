using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Invoke-Generation: continues a prompt with a model. The model comes from the pipeline
/// (<c>Import-Model | Invoke-Generation -Prompt '...'</c>) or from -Model; prompts may also come from the pipeline,
/// as strings or as objects with a Prompt property (and a Model property, which binds too). Generation runs on the
/// pipeline thread, so Ctrl+C stops it within one layer's time.
/// </summary>
/// <remarks>
/// Two parameter sets keep a model from ever binding to -Prompt (a model object would otherwise convert to its display
/// string and become the prompt): in <c>ModelFromPipeline</c> the model is the pipeline object and the prompt a
/// parameter; in <c>PromptFromPipeline</c> prompts are the pipeline objects and the model a parameter.
/// </remarks>
[Cmdlet(VerbsLifecycle.Invoke, "Generation", DefaultParameterSetName = ParameterSets.ModelFromPipeline)]
[OutputType(typeof(GenerationResult))]
[Alias("Invoke-LlmGeneration")]
public sealed class InvokeGenerationCommand : PSCmdlet
{
    private static class ParameterSets
    {
        public const string ModelFromPipeline = "ModelFromPipeline";
        public const string PromptFromPipeline = "PromptFromPipeline";
    }

    private readonly CancellationTokenSource _stop = new();

    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.ModelFromPipeline, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.PromptFromPipeline, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.ModelFromPipeline, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.PromptFromPipeline, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string? Prompt { get; set; }

    /// <summary>Most tokens to generate.</summary>
    [Parameter]
    [ValidateRange(0, 1 << 20)]
    public int MaxTokens { get; set; } = 128;

    /// <summary>0 is greedy decoding.</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public float Temperature { get; set; } = 0.8f;

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int TopK { get; set; } = 40;

    /// <summary>Keep the most likely tokens whose probabilities sum to at least this; 0 keeps only the most likely one, 1 keeps all.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float TopP { get; set; } = 0.95f;

    /// <summary>Seed of the sampler; without it a random seed is chosen and reported in the result.</summary>
    [Parameter]
    public int? Seed { get; set; }

    /// <summary>Worker threads, the calling thread included; 0 means one per logical processor, which is also the most used.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Threads { get; set; }

    /// <summary>Show the text on the host as it is generated (the result object still follows).</summary>
    [Parameter]
    public SwitchParameter Stream { get; set; }

    protected override void ProcessRecord()
    {
        var options = new GenerationOptions
        {
            MaxTokens = MaxTokens,
            Sampling = new SamplingOptions
            {
                Temperature = Temperature,
                TopK = TopK,
                TopP = TopP,
                Seed = Seed ?? Random.Shared.Next(),
            },
        };
        using var pool = WorkerPools.Rent(Threads, WriteWarning);
        var generator = new TextGenerator(Model!, pool.Pool);
        WriteVerbose($"Generating up to {MaxTokens} tokens with {Model!.Name} ({Model.Precision}), temperature {Temperature}, seed {options.Sampling.Seed}, {pool.Pool.ThreadCount} threads.");
        try
        {
            var result = generator.Generate(Prompt ?? "", options, _stop.Token, token =>
            {
                if (Stream) WriteInformation(new HostInformationMessage { Message = token.Text, NoNewLine = true }, ["PSHOST"]);
            });
            // PowerShell writes nothing more once a pipeline is stopping: the partial text cannot be returned as an
            // object. With -Stream it has been shown as it came (and is in -InformationVariable); see about_LlmCpu.
            if (result.StopReason == StopReason.Cancelled) throw new PipelineStoppedException();
            if (Stream) WriteInformation(new HostInformationMessage { Message = "", NoNewLine = false }, ["PSHOST"]);
            WriteObject(result);
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(ErrorMapper.ForGeneration(ex, Prompt, Model));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, Model));
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
