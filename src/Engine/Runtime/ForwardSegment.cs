namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Consecutive token rows of a forward pass that belong to one sequence: <paramref name="Count"/> tokens at positions
/// <paramref name="Start"/> .. Start + Count - 1 of the sequence whose keys and values live in <paramref name="Cache"/>.
/// A prefill chunk is one segment; a batched decode step is one segment of one token per sequence; a continuous batch's
/// step may hold both (each decoding sequence's token and a chunk of a prompt that has just taken a place).
/// </summary>
internal readonly record struct ForwardSegment(KvCache Cache, int Start, int Count)
{
    /// <summary>
    /// Whether the pass computes the logits after the segment's last token. A prompt chunk with more of the prompt
    /// after it needs none, and the output projection is the largest single product of a pass.
    /// </summary>
    public bool WantsLogits { get; init; } = true;
}
