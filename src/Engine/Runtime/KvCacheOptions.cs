namespace LlmCpu.Engine.Runtime;

/// <summary>
/// How large a model's KV cache pool may grow and what it stores. The pool is bounded once, when the model is loaded:
/// by <see cref="MemoryBytes"/> if given, otherwise by <see cref="MaxSessions"/> sequences of <see cref="ContextLength"/>
/// positions. Its memory is taken lazily, in whole blocks, as sequences first need them, so the bound is what the pool
/// may reach, not what a small script reserves.
/// </summary>
public sealed record KvCacheOptions
{
    /// <summary>Sequences of full context the pool holds when <see cref="MemoryBytes"/> is not given.</summary>
    public const int DefaultMaxSessions = 4;

    /// <summary>Idle prompts the prompt prefix cache keeps by default.</summary>
    public const int DefaultPromptCacheSize = 2;

    /// <summary>Positions of one sequence (a session's context); null for the model's context. At most the model's context.</summary>
    public int? ContextLength { get; init; }

    /// <summary>Sequences of <see cref="ContextLength"/> positions the pool holds; null for <see cref="DefaultMaxSessions"/>.</summary>
    public int? MaxSessions { get; init; }

    /// <summary>Bytes the pool may hold, in place of <see cref="MaxSessions"/>; rounded down to whole blocks.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>How keys and values are stored.</summary>
    public KvCacheType Type { get; init; } = KvCacheType.Float32;

    /// <summary>Idle prompts whose blocks the prompt prefix cache keeps for reuse; 0 turns the cache off.</summary>
    public int PromptCacheSize { get; init; } = DefaultPromptCacheSize;
}
