using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// Lets through only tokens that keep the answer a prefix of one JSON object or array, and is complete when that
/// value closes. Each token is tried on a copy of the recognizer's small state with the token's bytes from the
/// tokenizer's <see cref="TokenTextTable"/> (built once per tokenizer), so a check allocates nothing. Tokens that
/// produce no text (BOS, EOS, unknown) are refused: end of sequence comes from the value closing.
/// </summary>
public sealed class JsonConstraint(TokenTextTable table) : TokenConstraint
{
    private JsonPrefix _state;

    public override bool Allows(int token)
    {
        var bytes = table.Bytes(token);
        if (bytes.IsEmpty) return false;
        var trial = _state;
        foreach (byte b in bytes)
            if (!trial.Advance(b)) return false;
        return true;
    }

    public override void Accept(int token)
    {
        var bytes = table.Bytes(token);
        var next = _state;
        foreach (byte b in bytes)
            if (!next.Advance(b)) throw new ArgumentException($"Token {token} cannot continue the JSON text.", nameof(token));
        _state = next;
    }

    public override bool IsComplete => _state.IsComplete;
}
