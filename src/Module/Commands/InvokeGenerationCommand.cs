using System.Collections;
using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Invoke-Generation: continues a prompt with a model. The model comes from the pipeline
/// (<c>Import-Model | Invoke-Generation -Prompt '...'</c>) or from -Model; prompts may also come from the pipeline,
/// as strings or as objects with a Prompt property (and a Model property, which binds too). Generation runs on the
/// pipeline thread, so Ctrl+C stops it within one layer's time.
/// Several prompts for one model run as a batch (-BatchSize sequences at once, each decode step one pass over the
/// weights for all of them): they are collected as they arrive and run when the input ends; results come in input order
/// unless -Unordered. A single prompt, or -BatchSize 1, runs as it arrives, one after another.
/// </summary>
/// <remarks>
/// Two parameter sets keep a model from ever binding to -Prompt (a model object would otherwise convert to its display
/// string and become the prompt): in <c>ModelFromPipeline</c> the model is the pipeline object and the prompt a
/// parameter; in <c>PromptFromPipeline</c> prompts are the pipeline objects and the model a parameter. In <c>Session</c>
/// each prompt is the user's next message in a chat session (New-ChatSession), whose cache keeps the conversation.
/// </remarks>
[Cmdlet(VerbsLifecycle.Invoke, "Generation", DefaultParameterSetName = ParameterSets.ModelFromPipeline)]
[OutputType(typeof(GenerationResult), typeof(GenerationPiece))]
[Alias("Invoke-LlmGeneration")]
public sealed class InvokeGenerationCommand : PSCmdlet
{
    private static class ParameterSets
    {
        public const string ModelFromPipeline = "ModelFromPipeline";
        public const string PromptFromPipeline = "PromptFromPipeline";
        public const string Session = "Session";
    }

    private readonly CancellationTokenSource _stop = new();

    /// <summary>Prompts held for a batch, in input order, with their options or the error that ended them early.</summary>
    private readonly List<PendingPrompt> _pending = [];

    private sealed record PendingPrompt(int Index, LanguageModel Model, string Prompt, GenerationRequest? Request, Exception? Error);

    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.ModelFromPipeline, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.PromptFromPipeline, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.ModelFromPipeline, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.PromptFromPipeline, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ParameterSets.Session, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string? Prompt { get; set; }

    /// <summary>A chat session (New-ChatSession): the prompt is the user's next message, and only its new tokens are run.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.Session)]
    [ValidateNotNull]
    public ChatSession? Session { get; set; }

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

    /// <summary>Keep only tokens at least this fraction as likely as the most likely one; 0 keeps all.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float MinP { get; set; } = 0.05f;

    /// <summary>Locally typical sampling; 1 switches it off.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float TypicalP { get; set; } = 1.0f;

    /// <summary>Penalty on tokens seen in the last -RepeatLastN tokens; 1 switches it off.</summary>
    [Parameter]
    [ValidateRange(0.01, 100.0)]
    public float RepeatPenalty { get; set; } = 1.0f;

    /// <summary>How many of the last tokens the penalties look at; 0 switches them off, -1 means the whole context.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int RepeatLastN { get; set; } = 64;

    [Parameter]
    [ValidateRange(-100.0, 100.0)]
    public float PresencePenalty { get; set; }

    [Parameter]
    [ValidateRange(-100.0, 100.0)]
    public float FrequencyPenalty { get; set; }

    /// <summary>Token id or token text to bias; negative infinity bans.</summary>
    [Parameter]
    public Hashtable? LogitBias { get; set; }

    /// <summary>Strings that end the answer (not included in it).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Stop { get; set; }

    /// <summary>Json: only tokens that keep the answer valid JSON; the answer ends when the value closes.</summary>
    [Parameter]
    public GenerationFormat Format { get; set; } = GenerationFormat.Text;

    /// <summary>Seed of the sampler; without it a random seed is chosen and reported in the result.</summary>
    [Parameter]
    public int? Seed { get; set; }

    /// <summary>Worker threads, the calling thread included; 0 means one per logical processor, which is also the most used.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Threads { get; set; }

    /// <summary>Report each generated token with its probability in the result's Tokens property.</summary>
    [Parameter]
    public SwitchParameter IncludeTokens { get; set; }

    /// <summary>How many of the most likely tokens to report at each position (sets -IncludeTokens).</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int TopProbabilities { get; set; }

    // -Stream and the result object: -Stream writes GenerationPiece objects to the pipeline as they are produced and,
    // unless -PassThru is given, nothing else, so that `-Stream | Write-Host -NoNewline` or `-Stream | ForEach-Object
    // Text` yield exactly the answer; -PassThru adds the result object after the last piece. -ShowText is the host
    // display on its own: the text goes to the host (the information stream, as Write-Host writes) as it comes and the
    // result object follows as usual. Both write only from this (the pipeline) thread, inside ProcessRecord.

    /// <summary>Run the whole prompt, without reusing the KV cache of an earlier prompt that began the same way.</summary>
    [Parameter]
    public SwitchParameter NoPromptCache { get; set; }

    /// <summary>When the context fills, keep the first -KeepTokens tokens, drop the older half of the rest and go on, instead of stopping.</summary>
    [Parameter]
    public SwitchParameter ContextShift { get; set; }

    /// <summary>Tokens a context shift keeps at the start; by default the BOS token (if the prompt starts with one).</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? KeepTokens { get; set; }

    /// <summary>Write each piece of text to the pipeline as it is generated (GenerationPiece objects).</summary>
    [Parameter]
    public SwitchParameter Stream { get; set; }

    /// <summary>With -Stream, also write the result object after the last piece.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Show the text on the host as it is generated; the result object still follows.</summary>
    [Parameter]
    public SwitchParameter ShowText { get; set; }

    /// <summary>
    /// Most prompts generated at once when several are piped in: each decode step runs one token of every active prompt
    /// in one pass over the weights, and a finished prompt's place goes to the next one. 1 runs them one after another.
    /// </summary>
    [Parameter(ParameterSetName = ParameterSets.ModelFromPipeline)]
    [Parameter(ParameterSetName = ParameterSets.PromptFromPipeline)]
    [ValidateRange(1, BatchedGenerator.MaxBatchLimit)]
    public int BatchSize { get; set; } = 8;

    /// <summary>With a batch of prompts, write each result (or error) as soon as its prompt finishes instead of in input order.</summary>
    [Parameter(ParameterSetName = ParameterSets.ModelFromPipeline)]
    [Parameter(ParameterSetName = ParameterSets.PromptFromPipeline)]
    public SwitchParameter Unordered { get; set; }

    protected override void ProcessRecord()
    {
        if (Session == null && BatchSize > 1) Collect();
        else GenerateOne();
    }

    /// <summary>The prompt bound now, generated at once; its result or error is written before the next record binds.</summary>
    private void GenerateOne()
    {
        try
        {
            var result = Session != null ? Chat(Session) : Generate();
            // PowerShell writes nothing more once a pipeline is stopping: the partial text cannot be returned as an
            // object. The pieces of -Stream (and the text of -ShowText) went out as they came; see about_LlmCpu.
            if (result.StopReason == StopReason.Cancelled) throw new PipelineStoppedException();
            if (ShowText) WriteInformation(new HostInformationMessage { Message = "", NoNewLine = false }, ["PSHOST"]);
            if (!Stream || PassThru) WriteObject(result);
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            WriteError(Session != null ? ErrorMapper.ForChat(ex, Session) : ErrorMapper.ForGeneration(ex, Prompt, Model));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, (object?)Session ?? Model));
        }
    }

    /// <summary>Holds the prompt for a batch, with its options built now (the parameters may bind differently per record).</summary>
    private void Collect()
    {
        int index = _pending.Count;
        try
        {
            var request = new GenerationRequest(Prompt ?? "", BuildOptions(Model!));
            _pending.Add(new PendingPrompt(index, Model!, Prompt ?? "", request, null));
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            _pending.Add(new PendingPrompt(index, Model!, Prompt ?? "", null, ex));
        }
    }

    protected override void EndProcessing()
    {
        if (_pending.Count == 0) return;
        // One prompt alone runs as it would one at a time (with the prompt prefix cache); that is the common case.
        if (_pending.Count == 1 && _pending[0].Request != null)
        {
            Model = _pending[0].Model;
            Prompt = _pending[0].Prompt;
            _pending.Clear();
            GenerateOne();
            return;
        }
        var batch = new BatchOutput(this);
        foreach (var failed in _pending.Where(p => p.Error != null)) batch.Add(failed, null, failed.Error);
        try
        {
            // The prompts of each model form one batch, models in the order their first prompt came.
            foreach (var group in _pending.Where(p => p.Request != null).GroupBy(p => p.Model))
            {
                if (_stop.IsCancellationRequested) break;
                RunBatch(group.Key, [.. group], batch);
            }
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, Model));
        }
        if (batch.Cancelled || _stop.IsCancellationRequested) throw new PipelineStoppedException();
    }

    private void RunBatch(LanguageModel model, PendingPrompt[] prompts, BatchOutput output)
    {
        using var pool = WorkerPools.Rent(Threads, WriteWarning);
        WriteVerbose($"Generating {prompts.Length} prompts with {model.Name} ({model.Precision}), up to {BatchSize} at once, " +
            $"{pool.Pool.ThreadCount} threads; up to {MaxTokens} tokens each.");
        var generator = new BatchedGenerator(model, BatchSize, pool.Pool);
        var finished = new bool[prompts.Length];
        try
        {
            generator.Generate([.. prompts.Select(p => p.Request!)], outcome =>
            {
                finished[outcome.Index] = true;
                output.Add(prompts[outcome.Index], outcome.Result, outcome.Error, outcome.CacheShortage);
            }, _stop.Token, Stream ? piece => OnBatchPiece(piece, prompts) : null);
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex))
        {
            // Nothing of this model could run (it was disposed, say): every prompt of it not yet reported fails alike.
            for (int i = 0; i < prompts.Length; i++)
            {
                if (!finished[i]) output.Add(prompts[i], null, ex);
            }
        }
    }

    /// <summary>A piece of one prompt of a batch, its PromptIndex the prompt's place in this command's input.</summary>
    private void OnBatchPiece(GenerationPiece piece, PendingPrompt[] prompts)
    {
        if (piece.Text.Length == 0) return;
        WriteObject(piece with { PromptIndex = prompts[piece.PromptIndex].Index });
    }

    /// <summary>
    /// Writes a batch's results and errors: in input order (each held until every earlier prompt's is out), or with
    /// -Unordered as they come. With -ShowText, a result's text goes to the host when the result is written: the
    /// prompts of a batch advance together, so their texts would interleave token by token.
    /// </summary>
    private sealed class BatchOutput(InvokeGenerationCommand command)
    {
        private readonly SortedDictionary<int, (PendingPrompt Prompt, GenerationResult? Result, Exception? Error, Exception? Shortage)> _held = [];
        private int _next;

        public bool Cancelled { get; private set; }

        /// <param name="shortage">Set when the prompt's answer was cut short because the KV cache pool had no free block:
        /// the result (ContextFull, its text so far) is written with a warning that says so.</param>
        public void Add(PendingPrompt prompt, GenerationResult? result, Exception? error, Exception? shortage = null)
        {
            if (command.Unordered)
            {
                Write(prompt, result, error, shortage);
                return;
            }
            _held[prompt.Index] = (prompt, result, error, shortage);
            while (_held.Remove(_next, out var ready))
            {
                Write(ready.Prompt, ready.Result, ready.Error, ready.Shortage);
                _next++;
            }
        }

        private void Write(PendingPrompt prompt, GenerationResult? result, Exception? error, Exception? shortage)
        {
            if (error != null)
            {
                command.WriteError(ErrorMapper.ForGeneration(error, prompt.Prompt, prompt.Model));
                return;
            }
            if (shortage != null)
            {
                command.WriteWarning($"Prompt {prompt.Index} stopped after {result!.GeneratedTokens} tokens (ContextFull): the KV cache pool had no free " +
                    $"block for its next token (the batch's other prompts, or other sessions, held them all); a smaller -BatchSize leaves each more. {shortage.Message}");
            }
            // As with one prompt, nothing more can be written once the pipeline is stopping (see about_LlmCpu).
            if (result!.StopReason == StopReason.Cancelled)
            {
                Cancelled = true;
                return;
            }
            if (command.ShowText) command.WriteInformation(new HostInformationMessage { Message = result.Text, NoNewLine = false }, ["PSHOST"]);
            if (!command.Stream || command.PassThru) command.WriteObject(result);
        }
    }

    private GenerationResult Generate()
    {
        if (KeepTokens != null && !ContextShift) WriteWarning("-KeepTokens applies only with -ContextShift; it is ignored.");
        var options = BuildOptions(Model!);
        using var pool = WorkerPools.Rent(Threads, WriteWarning);
        var generator = new TextGenerator(Model!, pool.Pool);
        WriteVerbose($"Generating up to {MaxTokens} tokens with {Model!.Name} ({Model.Precision}), seed {options.Sampling.Seed}, " +
            $"{pool.Pool.ThreadCount} threads; sampler chain: {Describe(options.Sampling)}.");
        var result = generator.Generate(Prompt ?? "", options, _stop.Token, OnPiece);
        var cache = Model.PromptCache.Statistics;
        WriteVerbose(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"Prompt prefix cache: {result.CachedTokens} of {result.CachedTokens + result.PromptTokens} prompt tokens reused, {result.PromptTokens} run " +
            $"in {result.PromptTime.TotalMilliseconds:F1} ms; on {Model.Name} so far {cache.Hits} of {cache.Lookups} prompts hit ({cache.HitRate:P0}), " +
            $"{cache.TokensReused} of {cache.TokensLookedUp} prompt tokens reused ({cache.TokenReuseRate:P0})."));
        return result;
    }

    /// <summary>The next turn of a chat session; its worker threads are the session's (New-ChatSession -Threads).</summary>
    private GenerationResult Chat(ChatSession session)
    {
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Threads)))
            WriteWarning("-Threads is ignored with -Session: a chat session runs on the threads New-ChatSession gave it.");
        if (ContextShift || KeepTokens != null || NoPromptCache)
            WriteWarning("-ContextShift, -KeepTokens and -NoPromptCache are ignored with -Session: a chat session keeps its own cache (New-ChatSession -ContextShift).");
        var options = BuildOptions(session.GetModel());
        WriteVerbose($"Chat turn {session.Turns + 1} on {session.ModelName} ({session.Template}), {session.TokenCount} of {session.Capacity} context tokens held, " +
            $"up to {MaxTokens} tokens, seed {options.Sampling.Seed}; sampler chain: {Describe(options.Sampling)}.");
        var result = session.Send(Prompt ?? "", options, _stop.Token, OnPiece);
        WriteVerbose($"Prefilled {result.PromptTokens} new tokens in {result.PromptTime.TotalMilliseconds:F1} ms and reused {result.CachedTokens} from the cache; " +
            $"the session holds {session.TokenCount} of {session.Capacity}.");
        return result;
    }

    private void OnPiece(GenerationPiece piece)
    {
        if (piece.Text.Length == 0) return;
        if (ShowText) WriteInformation(new HostInformationMessage { Message = piece.Text, NoNewLine = true }, ["PSHOST"]);
        if (Stream) WriteObject(piece);
    }

    private GenerationOptions BuildOptions(LanguageModel model) => new()
    {
        MaxTokens = MaxTokens,
        ReusePromptPrefix = !NoPromptCache,
        ContextShift = ContextShift,
        KeepTokens = KeepTokens,
        StopSequences = Stop ?? [],
        Format = Format,
        IncludeTokens = IncludeTokens || TopProbabilities > 0,
        TopProbabilities = TopProbabilities,
        Sampling = new SamplingOptions
        {
            Temperature = Temperature,
            TopK = TopK,
            TopP = TopP,
            MinP = MinP,
            TypicalP = TypicalP,
            RepeatPenalty = RepeatPenalty,
            RepeatLastN = RepeatLastN,
            PresencePenalty = PresencePenalty,
            FrequencyPenalty = FrequencyPenalty,
            LogitBias = LogitBiasTable.Read(LogitBias, model.Tokenizer),
            Seed = Seed ?? Random.Shared.Next(),
        },
    };

    private static string Describe(SamplingOptions s) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"logit bias ({s.LogitBias?.Count ?? 0} tokens), penalties (last {s.RepeatLastN}: repeat {s.RepeatPenalty}, frequency {s.FrequencyPenalty}, presence {s.PresencePenalty}), " +
        $"top-k {s.TopK}, typical-p {s.TypicalP}, top-p {s.TopP}, min-p {s.MinP}, temperature {s.Temperature}, draw");

    protected override void StopProcessing() => _stop.Cancel();
}
