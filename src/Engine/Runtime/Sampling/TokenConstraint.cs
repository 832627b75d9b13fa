namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// A rule on the generated text that the sampler enforces token by token (a grammar): which tokens may come next,
/// and when the text is complete. The sampler asks <see cref="Allows"/> for the token it drew and, only when that one
/// is refused, for every token, as llama.cpp's grammar sampler does (common/sampling.cpp).
/// </summary>
public abstract class TokenConstraint
{
    /// <summary>Whether the token may come next. Must not allocate: it runs for the whole vocabulary on a refusal.</summary>
    public abstract bool Allows(int token);

    /// <summary>Moves past a token that was allowed.</summary>
    public abstract void Accept(int token);

    /// <summary>Whether the text so far is complete, so generation stops.</summary>
    public abstract bool IsComplete { get; }
}
