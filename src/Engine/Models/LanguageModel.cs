using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A loaded model: configuration, weights in kernel layout, tokenizer, and where it came from.
/// Thread-safe to share: sessions created from it hold all mutable state.
/// </summary>
/// <remarks>
/// Disposing frees the weights, but not under a session still running on them: each session holds a reference, and
/// the memory goes when the last one ends. After <see cref="Dispose"/>, starting a session (or any use of the weights)
/// throws <see cref="ObjectDisposedException"/> instead of reading freed memory.
/// </remarks>
public sealed class LanguageModel : IDisposable
{
    private readonly IDisposable? _storage;
    private readonly ModelWeights _weights;
    private readonly object _lifetime = new();
    private volatile KvCachePool _kvCachePool;
    private int _users;
    private bool _disposeRequested;
    private bool _freed;

    internal LanguageModel(string name, string path, ModelConfig config, ModelWeights weights, TextTokenizer tokenizer,
        string storedPrecision, string precision, long fileSizeBytes, TimeSpan loadTime, IDisposable? storage)
    {
        Name = name;
        Path = path;
        Config = config;
        _weights = weights;
        Tokenizer = tokenizer;
        StoredPrecision = storedPrecision;
        Precision = precision;
        FileSizeBytes = fileSizeBytes;
        LoadTime = loadTime;
        _storage = storage;
        _kvCachePool = CreatePool(new KvCacheOptions());
    }

    public string Name { get; }

    public string Architecture => Config.Architecture;

    public long Parameters => Config.ParameterCount;

    /// <summary>The precision weights are computed in (for example F32, Q4 g128).</summary>
    public string Precision { get; }

    /// <summary>The precision the file stores.</summary>
    public string StoredPrecision { get; }

    /// <summary>Bytes of the model's files on disk.</summary>
    public long FileSizeBytes { get; }

    /// <summary>Bytes of weights held for computation.</summary>
    public long WeightBytes => _weights.ByteSize;

    /// <summary>
    /// Bytes of weights the engine holds in its own memory. A model mapped in its compute layout (an INT4 .llmc file)
    /// holds almost nothing here: its weights are the file's pages, shared with the page cache and read lazily. Read
    /// into memory instead (<see cref="LoadOptions.MemoryMap"/> false), those weights count here.
    /// </summary>
    public long ResidentBytes => _weights.OwnedBytes + (IsMemoryMapped ? 0 : _weights.MappedBytes);

    /// <summary>Bytes of weights used in place from a memory-mapped file.</summary>
    public long MappedBytes => IsMemoryMapped ? _weights.MappedBytes : 0;

    /// <summary>
    /// Whether the weights used in place from the model's file are its mapped pages (true, also when there are none),
    /// or a copy read into the process's memory at load.
    /// </summary>
    public bool IsMemoryMapped { get; init; } = true;

    /// <summary>
    /// Positions a session may reach: the model's trained context (<see cref="ModelConfig.ContextLength"/>), or less when
    /// the model was loaded with a shorter context for its KV cache pool.
    /// </summary>
    public int ContextLength => _kvCachePool.SequenceLength;

    public int VocabularySize => Config.VocabularySize;

    public int LayerCount => Config.LayerCount;

    public string Path { get; }

    public TimeSpan LoadTime { get; }

    public ModelConfig Config { get; }

    /// <summary>The weights; throws <see cref="ObjectDisposedException"/> once the model is disposed.</summary>
    internal ModelWeights Weights
    {
        get
        {
            if (_disposeRequested) throw Disposed();
            return _weights;
        }
    }

    /// <summary>Whether <see cref="Dispose"/> has been called (the memory may still be in use by a running session).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposeRequested);

    public TextTokenizer Tokenizer { get; }

    /// <summary>
    /// The chat template the model's files carry (GGUF <c>tokenizer.chat_template</c>, or <c>chat_template</c> in a Hugging
    /// Face folder's tokenizer_config.json), as Jinja text; null when they carry none. A chat session recognises it.
    /// </summary>
    public string? ChatTemplateText { get; init; }

    /// <summary>
    /// The model's other chat templates by name ("tool_use", "rag"): the entries besides "default" of a
    /// tokenizer_config.json list of named templates, GGUF <c>tokenizer.chat_template.NAME</c>; empty when it has none.
    /// A chat session uses one when it is named (<see cref="ChatTemplateFiles"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; init; } = ChatTemplateFiles.None;

    /// <summary>The KV caches of this model's recent prompts, which later prompts with the same start reuse.</summary>
    public PromptPrefixCache PromptCache { get; } = new();

    /// <summary>The memory every session's KV cache takes its blocks from.</summary>
    public KvCachePool KvCachePool => _kvCachePool;

    /// <summary>How the KV cache stores keys and values.</summary>
    public KvCacheType KvCacheType => _kvCachePool.Type;

    /// <summary>Blocks the KV cache pool may hold (each <see cref="KvCachePool.BlockPositions"/> positions of every layer).</summary>
    public int KvCacheBlocks => _kvCachePool.BlocksTotal;

    /// <summary>Blocks sessions and idle prompt caches hold now.</summary>
    public int KvCacheBlocksInUse => _kvCachePool.BlocksInUse;

    /// <summary>Bytes of KV cache memory allocated so far (blocks are allocated when first needed, then reused).</summary>
    public long KvCacheBytes => _kvCachePool.AllocatedBytes;

    /// <summary>Bytes the KV cache pool may reach.</summary>
    public long KvCacheMaxBytes => _kvCachePool.BytesTotal;

    /// <summary>Bytes of KV cache blocks idle prompt caches hold for reuse (let go when sessions need the blocks).</summary>
    public long PromptCacheBytes => PromptCache.IdleBytes;

    /// <summary>
    /// Sizes the KV cache pool and the prompt cache (the loader applies <see cref="LoadOptions.KvCache"/>). Idle prompt
    /// caches are let go first.
    /// </summary>
    /// <exception cref="InvalidOperationException">A session holds blocks of the current pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The options describe no usable pool.</exception>
    public void ConfigureKvCache(KvCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var pool = CreatePool(options);
        PromptCache.Clear();
        lock (_lifetime)
        {
            if (_kvCachePool.BlocksInUse > 0)
            {
                pool.Dispose();
                throw new InvalidOperationException($"The KV cache of '{Name}' is in use by {_kvCachePool.BlocksInUse} block(s); it can be resized only while no session holds any.");
            }
            _kvCachePool.Dispose();
            _kvCachePool = pool;
            PromptCache.MaxEntries = options.PromptCacheSize;
        }
    }

    private KvCachePool CreatePool(KvCacheOptions options)
    {
        var pool = KvCachePool.For(Name, Config, options);
        pool.Reclaim = PromptCache.EvictLeastRecent;
        return pool;
    }

    /// <summary>The quantization report embedded in an INT4 model file, or null for other files.</summary>
    public Formats.Llmc.QuantizationReport? Quantization { get; init; }

    public override string ToString() => $"{Name} ({Architecture}, {Precision})";

    /// <summary>Keeps the weights allocated until the matching <see cref="ReleaseSessionReference"/>.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal void AddSessionReference()
    {
        lock (_lifetime)
        {
            if (_disposeRequested) throw Disposed();
            _users++;
        }
    }

    internal void ReleaseSessionReference()
    {
        lock (_lifetime)
        {
            if (--_users == 0 && _disposeRequested) Free();
        }
    }

    /// <summary>Runs <paramref name="work"/> with the weights kept allocated for its duration (exports and conversions).</summary>
    internal T Use<T>(Func<ModelWeights, T> work)
    {
        AddSessionReference();
        try
        {
            return work(_weights);
        }
        finally
        {
            ReleaseSessionReference();
        }
    }

    private ObjectDisposedException Disposed() =>
        new(ToString(), $"The model '{Name}' has been removed (Remove-Model or Dispose) and its memory freed; load it again to use it.");

    /// <summary>Frees the weights now, or when the last running session ends. A second call does nothing.</summary>
    public void Dispose()
    {
        // Idle prompt caches hold references to the weights; letting them go first lets the memory go now.
        PromptCache.Clear();
        lock (_lifetime)
        {
            if (_disposeRequested) return;
            _disposeRequested = true;
            if (_users == 0) Free();
        }
    }

    private void Free()
    {
        if (_freed) return;
        _freed = true;
        _weights.Dispose();
        _storage?.Dispose();
        _kvCachePool.Dispose();
    }
}
