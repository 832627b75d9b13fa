namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Consecutive token rows of a forward pass that belong to one sequence: <paramref name="Count"/> tokens at positions
/// <paramref name="Start"/> .. Start + Count - 1 of the sequence whose keys and values live in <paramref name="Cache"/>.
/// A prefill chunk is one segment; a batched decode step is one segment of one token per sequence.
/// </summary>
internal readonly record struct ForwardSegment(KvCache Cache, int Start, int Count);
