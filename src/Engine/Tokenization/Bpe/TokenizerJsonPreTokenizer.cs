using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>
/// Reads tokenizer.json's <c>pre_tokenizer</c> into word-splitting expressions: a lone <c>ByteLevel</c> step
/// (GPT-2), or a <c>Sequence</c> of <c>Split</c>/<c>Digits</c> steps ending in <c>ByteLevel</c> (Llama 3, Qwen2).
/// </summary>
internal static class TokenizerJsonPreTokenizer
{
    /// <summary>A ByteLevel step without its own expression leaves each piece whole.</summary>
    private const string WholePiece = @"[\s\S]+";

    public sealed record Result(IReadOnlyList<string> Patterns, bool AddPrefixSpace);

    public static Result Read(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind == JsonValueKind.Null)
            throw new ModelNotSupportedException(path, "pre_tokenizer", "is missing; only byte-level BPE (a ByteLevel pre-tokenizer) is supported");
        if (pre.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "pre_tokenizer", "is not an object");

        var steps = JsonFields.RequireString(pre, "type", "pre_tokenizer.type", path) == "Sequence"
            ? JsonFields.Items(pre, "pretokenizers", "pre_tokenizer.pretokenizers", path).ToList()
            : [(pre, "pre_tokenizer")];

        var patterns = new List<string>();
        bool byteLevelSeen = false;
        bool addPrefixSpace = false;
        foreach (var (step, field) in steps)
        {
            if (step.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, field, "is not an object");
            string type = JsonFields.RequireString(step, "type", field + ".type", path);
            if (byteLevelSeen)
                throw new ModelNotSupportedException(path, field + ".type", $"'{type}' after the ByteLevel step is not supported");
            switch (type)
            {
                case "ByteLevel":
                    byteLevelSeen = true;
                    // Hugging Face's defaults for a ByteLevel step written without these fields.
                    if (JsonFields.OptionalBool(step, "add_prefix_space", field + ".add_prefix_space", path) ?? true)
                    {
                        if (patterns.Count > 0)
                            throw new ModelNotSupportedException(path, field + ".add_prefix_space", "is set after other splitting steps; not supported");
                        addPrefixSpace = true;
                    }
                    if (JsonFields.OptionalBool(step, "use_regex", field + ".use_regex", path) ?? true)
                        patterns.Add(PreTokenizerCatalog.Gpt2WithTrailingSpace);
                    break;
                case "Split":
                    patterns.Add(ReadSplit(step, field, path));
                    break;
                case "Digits":
                    // Rust's char::is_numeric, which Hugging Face uses here, is the Unicode N categories.
                    bool individual = JsonFields.OptionalBool(step, "individual_digits", field + ".individual_digits", path) ?? false;
                    patterns.Add(individual ? @"\p{N}" : @"\p{N}+");
                    break;
                default:
                    throw new ModelNotSupportedException(path, field + ".type", $"'{type}' is not a supported pre-tokenizer step (ByteLevel, Split, Digits are)");
            }
        }
        if (!byteLevelSeen)
            throw new ModelNotSupportedException(path, "pre_tokenizer", "has no ByteLevel step; only byte-level BPE is supported");
        if (patterns.Count == 0) patterns.Add(WholePiece);
        return new Result(patterns, addPrefixSpace);
    }

    private static string ReadSplit(JsonElement step, string field, string path)
    {
        string behavior = JsonFields.RequireString(step, "behavior", field + ".behavior", path);
        if (behavior != "Isolated")
            throw new ModelNotSupportedException(path, field + ".behavior", $"'{behavior}' is not supported (Isolated is)");
        if (JsonFields.OptionalBool(step, "invert", field + ".invert", path) == true)
            throw new ModelNotSupportedException(path, field + ".invert", "is set; inverted splits are not supported");
        var pattern = JsonFields.RequireObject(step, "pattern", field + ".pattern", path);
        if (JsonFields.OptionalString(pattern, "String", field + ".pattern.String", path) is { } literal)
        {
            if (literal.Length == 0) throw new ModelFormatException(path, field + ".pattern.String", "is empty");
            return Regex.Escape(literal);
        }
        string regex = JsonFields.RequireString(pattern, "Regex", field + ".pattern.Regex", path);
        if (!RegexWordSplitter.TryValidate(regex, out string? error))
            throw new ModelNotSupportedException(path, field + ".pattern.Regex", $"cannot be read as a .NET regular expression: {error}");
        return regex;
    }
}
