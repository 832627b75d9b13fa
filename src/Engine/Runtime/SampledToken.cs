namespace LlmCpu.Engine.Runtime;

/// <summary>A token and the model's probability for it at one position.</summary>
/// <param name="Text">The token's text on its own (part of a multi-byte character reads as U+FFFD).</param>
/// <param name="Probability">Softmax of the model's raw logits at temperature 1, before bias, penalties and the
/// filters: how likely the model found it (llama-server's default for n_probs).</param>
public sealed record TokenProbability(int Id, string Text, float Probability)
{
    /// <summary>Short, for lists of alternatives in a table or list view.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Id} '{Text}' {Probability:0.####}");
}

/// <summary>A generated token with its probability and the most likely tokens at its position (llama.cpp's n_probs).</summary>
/// <param name="TopTokens">The most likely tokens at this position, most likely first; empty unless asked for.</param>
public sealed record SampledToken(int Id, string Text, float Probability, IReadOnlyList<TokenProbability> TopTokens)
{
    /// <summary>Short, for the result's Tokens in a list view.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Id} '{Text}' {Probability:0.####}");
}
