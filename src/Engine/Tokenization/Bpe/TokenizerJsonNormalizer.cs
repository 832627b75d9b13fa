using System.Text.Json;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>Reads tokenizer.json's <c>normalizer</c>: none, or Unicode NFC (Qwen2's files ask for it). Others are refused.</summary>
internal static class TokenizerJsonNormalizer
{
    public static bool ReadNfc(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null) return false;
        return Visit(normalizer, "normalizer", path);
    }

    private static bool Visit(JsonElement normalizer, string field, string path)
    {
        if (normalizer.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, field, "is not an object");
        string type = JsonFields.RequireString(normalizer, "type", field + ".type", path);
        switch (type)
        {
            case "NFC":
                return true;
            case "Sequence":
                bool nfc = false;
                foreach (var (item, itemField) in JsonFields.Items(normalizer, "normalizers", field + ".normalizers", path))
                    nfc |= Visit(item, itemField, path);
                return nfc;
            default:
                throw new ModelNotSupportedException(path, field + ".type", $"'{type}' is not supported (NFC is)");
        }
    }
}
