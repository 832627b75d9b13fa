namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Text released while generating, in order: concatenated, the pieces are the result's <c>Text</c>. A piece holds
/// whole characters only; text that could begin a stop string waits until it is known not to.
/// </summary>
/// <param name="Text">The new text; empty when the token completed no character yet (part of a multi-byte character)
/// or its text is held back.</param>
/// <param name="TokenId">The token whose arrival released the text; -1 for text released when generation ended
/// (held back until then as the possible start of a stop string, or an unfinished character, which reads as U+FFFD).</param>
/// <param name="Index">Position of the token among the generated tokens, from 0; for the final release, the number of tokens.</param>
public sealed record GenerationPiece(string Text, int TokenId, int Index)
{
    /// <summary>
    /// Which request of a batch the piece belongs to: its place among the prompts given, from 0 (pieces of a batch's
    /// requests interleave as the requests advance side by side). 0 for a single generation.
    /// </summary>
    public int PromptIndex { get; init; }

    /// <summary>The text itself, so that <c>Invoke-Generation -Stream | Write-Host -NoNewline</c> shows the answer.</summary>
    public override string ToString() => Text;
}
