namespace LlmCpu.Engine.Runtime;

/// <summary>
/// A sequence needed more KV cache blocks than its model's pool had free, after idle prompt caches were let go. The
/// pool's size is set when the model is loaded (context length and sessions, or memory).
/// </summary>
public sealed class KvCacheExhaustedException(string modelName, int blocksNeeded, int blocksFree, int blocksTotal, int blockPositions)
    : InvalidOperationException(
        $"The KV cache of '{modelName}' is exhausted: {blocksNeeded} block(s) of {blockPositions} positions are needed and {blocksFree} of {blocksTotal} are free. " +
        "End other sessions (Remove-ChatSession), or load the model with a larger pool (Import-Model -MaxSessions, -ContextLength or -KvCacheMemory).")
{
    public int BlocksNeeded { get; } = blocksNeeded;

    public int BlocksFree { get; } = blocksFree;

    public int BlocksTotal { get; } = blocksTotal;
}

/// <summary>KV cache options that describe no usable pool (a size of zero, memory smaller than one block).</summary>
public sealed class KvCacheArgumentException(string parameter, object? value, string message) : ArgumentOutOfRangeException(parameter, value, message);
