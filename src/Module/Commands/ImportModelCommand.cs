using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Module.Completion;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Import-Model: loads a model from disk into memory, ready for Invoke-Generation. Without a path it loads the
/// small Austen-trained Llama model that ships inside the module.
/// </summary>
[Cmdlet(VerbsData.Import, "Model", DefaultParameterSetName = ParameterSets.Path)]
[OutputType(typeof(LanguageModel))]
[Alias("Import-LlmModel")]
public sealed class ImportModelCommand : PSCmdlet
{
    private static class ParameterSets
    {
        public const string Path = "Path";
        public const string LiteralPath = "LiteralPath";
    }

    private readonly CancellationTokenSource _stop = new();

    /// <summary>A GGUF file, a Hugging Face model folder (config.json, safetensors, tokenizer.model) or a file inside one. Wildcards allowed.</summary>
    [Parameter(Position = 0, ParameterSetName = ParameterSets.Path, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    public string[]? Path { get; set; }

    /// <summary>A path taken literally, without wildcard expansion.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ParameterSets.LiteralPath, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP", "FullName")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    public string[]? LiteralPath { get; set; }

    /// <summary>The precision weights are held in: as the file stores them (default), FP32, FP16, or INT4 quantized at load.</summary>
    [Parameter]
    public ModelPrecision Precision { get; set; } = ModelPrecision.AsStored;

    /// <summary>Weights per INT4 scale: 32, 64, 128 (default) or -1 for one scale per row.</summary>
    [Parameter]
    [ValidateSet("32", "64", "128", "-1")]
    public int GroupSize { get; set; } = 128;

    /// <summary>INT4 with a zero point per group (min..max) instead of symmetric around zero.</summary>
    [Parameter]
    public SwitchParameter Asymmetric { get; set; }

    /// <summary>How INT4 scales are chosen: RoundToNearest (the default; ggml's Q4_0 rule) or MinimizeError (a scale search per group).</summary>
    [Parameter]
    public Int4Recipe Recipe { get; set; } = Int4Recipe.RoundToNearest;

    /// <summary>How INT4 weights meet activations: Int8 (dynamic per-block quantization, the fast path) or Float32.</summary>
    [Parameter]
    public ActivationMode Activations { get; set; } = ActivationMode.Int8;

    /// <summary>Positions of one session's context (prompt and answer); by default the model's context. Sizes the KV cache pool with -MaxSessions.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? ContextLength { get; set; }

    /// <summary>Sessions of -ContextLength positions the KV cache pool holds at once (default 4); its memory is taken only as sessions use it.</summary>
    [Parameter]
    [ValidateRange(1, 1 << 20)]
    public int? MaxSessions { get; set; }

    /// <summary>Bytes the KV cache pool may hold, in place of -MaxSessions (whole blocks of 64 positions of every layer).</summary>
    [Parameter]
    [ValidateRange(1L, long.MaxValue)]
    public long? KvCacheMemory { get; set; }

    /// <summary>How the KV cache stores keys and values: Float32 (default), Float16 (half the memory) or Int8 (about a quarter: one byte a value and a scale per position and head).</summary>
    [Parameter]
    public KvCacheType KvCacheType { get; set; } = KvCacheType.Float32;

    /// <summary>Idle prompts whose KV cache blocks are kept for reuse by later prompts that start the same way (default 2); 0 turns it off.</summary>
    [Parameter]
    [ValidateRange(0, 1000)]
    public int PromptCacheSize { get; set; } = KvCacheOptions.DefaultPromptCacheSize;

    /// <summary>
    /// Read an INT4 .llmc file into the process's memory (on large pages where the system has them) instead of mapping
    /// it: the load reads the whole file and the model holds memory of its own, and decoding, which streams every weight
    /// once a token, runs faster. llama.cpp's --no-mmap. Other formats copy or convert their weights at load either way.
    /// </summary>
    [Parameter]
    public SwitchParameter NoMemoryMap { get; set; }

    protected override void BeginProcessing()
    {
        WriteVerbose($"Kernel path: {KernelDispatch.Description}.");
        if (Precision != ModelPrecision.Int4 && (MyInvocation.BoundParameters.ContainsKey(nameof(GroupSize)) || Asymmetric.IsPresent))
            WriteWarning("-GroupSize and -Asymmetric apply only with -Precision Int4; they are ignored.");
        if (KvCacheMemory != null && MaxSessions != null)
            WriteWarning("-KvCacheMemory sets the KV cache pool's size; -MaxSessions is ignored.");
    }

    protected override void ProcessRecord()
    {
        foreach (string path in ResolvePaths())
        {
            var log = new CmdletLog(this, activityId: 1);
            try
            {
                var model = ModelLoader.Load(path, new LoadOptions
                {
                    Log = log,
                    Precision = Precision,
                    Int4Format = new Int4Format(GroupSize, Asymmetric.IsPresent, Recipe),
                    Activations = Activations,
                    MemoryMap = !NoMemoryMap.IsPresent,
                    KvCache = new KvCacheOptions
                    {
                        ContextLength = ContextLength,
                        MaxSessions = MaxSessions,
                        MemoryBytes = KvCacheMemory,
                        Type = KvCacheType,
                        PromptCacheSize = PromptCacheSize,
                    },
                    Cancellation = _stop.Token,
                });
                WriteVerbose($"Model '{model.Name}': {model.Parameters:N0} parameters, {model.Precision}, {model.WeightBytes / 1048576.0:F1} MiB of weights, loaded in {model.LoadTime.TotalSeconds:F2} s.");
                WriteVerbose($"KV cache pool: {model.KvCacheBlocks} blocks of {KvCachePool.BlockPositions} positions ({model.KvCacheType}), up to {model.KvCacheMaxBytes / 1048576.0:F1} MiB, allocated as sessions need it; context {model.ContextLength}.");
                WriteObject(model);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
            catch (Exception ex) when (ErrorMapper.IsExpected(ex))
            {
                // One bad path among several is reported and the rest still load.
                WriteError(ErrorMapper.ForLoad(ex, path));
            }
            catch (Exception ex) when (ErrorMapper.IsDefect(ex))
            {
                ThrowTerminatingError(ErrorMapper.Defect(ex, path));
            }
            finally
            {
                log.Complete();
            }
        }
    }

    private IEnumerable<string> ResolvePaths()
    {
        if (ParameterSetName == ParameterSets.LiteralPath)
        {
            foreach (string literal in LiteralPath!) yield return SessionState.Path.GetUnresolvedProviderPathFromPSPath(literal);
            yield break;
        }
        if (Path is null)
        {
            if (!Directory.Exists(ModulePaths.BundledModel))
            {
                ThrowTerminatingError(new ErrorRecord(new DirectoryNotFoundException($"The bundled model is missing from '{ModulePaths.BundledModel}'; reinstall the module."),
                    ErrorIds.BundledModelMissing, ErrorCategory.ObjectNotFound, ModulePaths.BundledModel));
            }
            yield return ModulePaths.BundledModel;
            yield break;
        }
        foreach (string pattern in Path)
        {
            List<string> resolved = [];
            if (WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                try
                {
                    resolved.AddRange(GetResolvedProviderPathFromPSPath(pattern, out _));
                }
                catch (ItemNotFoundException ex)
                {
                    WriteError(new ErrorRecord(ex, ErrorIds.ModelNotFound, ErrorCategory.ObjectNotFound, pattern));
                }
            }
            else
            {
                resolved.Add(SessionState.Path.GetUnresolvedProviderPathFromPSPath(pattern));
            }
            foreach (string item in resolved) yield return item;
        }
    }

    protected override void StopProcessing() => _stop.Cancel();
}
