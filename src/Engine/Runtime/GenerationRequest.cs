namespace LlmCpu.Engine.Runtime;

/// <summary>One prompt of a batch (<see cref="BatchedGenerator"/>) with its own options: seed, limits, stop rules, format.</summary>
public sealed record GenerationRequest(string Prompt, GenerationOptions Options);

/// <summary>
/// How one request of a batch ended: its <see cref="Result"/>, or the <see cref="Error"/> that ended it alone (a bad
/// prompt or option: <see cref="GenerationArgumentException"/>; a step whose values were not finite:
/// <see cref="ModelNumericException"/>; a prompt the model's KV cache pool cannot hold even when no other sequence of
/// the batch holds blocks: <see cref="KvCacheExhaustedException"/>), leaving the other requests to go on.
/// </summary>
/// <param name="Index">The request's place among the requests given, from 0.</param>
public sealed record BatchedOutcome(int Index, GenerationRequest Request, GenerationResult? Result, Exception? Error)
{
    /// <summary>
    /// Set when the sequence ended early because the model's KV cache pool had no free block for its next token (the
    /// other sequences of the batch, or other sessions, held them all): its <see cref="Result"/> then has
    /// <see cref="StopReason.ContextFull"/> and keeps the tokens generated so far. Null otherwise.
    /// </summary>
    public KvCacheExhaustedException? CacheShortage { get; init; }
}
