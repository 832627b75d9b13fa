namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>What a piece of a rendered chat is, which decides how it becomes tokens.</summary>
public enum TemplatePieceKind
{
    /// <summary>Text from a message: encoded as text, control-token text in it included.</summary>
    Text,

    /// <summary>A marker of the template ("&lt;|im_start|&gt;"): its control token where the vocabulary has one, text otherwise.</summary>
    Marker,

    /// <summary>The model's beginning-of-sequence token (the template's <c>bos_token</c>).</summary>
    Bos,

    /// <summary>The model's end-of-sequence token (the template's <c>eos_token</c>).</summary>
    Eos,
}

/// <summary>One piece of a rendered chat.</summary>
public readonly record struct TemplatePiece(TemplatePieceKind Kind, string Text)
{
    public static TemplatePiece Content(string text) => new(TemplatePieceKind.Text, text);

    public static TemplatePiece Marker(string text) => new(TemplatePieceKind.Marker, text);

    public static readonly TemplatePiece Bos = new(TemplatePieceKind.Bos, "");

    public static readonly TemplatePiece Eos = new(TemplatePieceKind.Eos, "");
}
