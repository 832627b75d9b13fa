using System.Text.Json;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Models;

/// <summary>
/// The chat templates a model's files carry: the default one and the others by name. A Hugging Face
/// tokenizer_config.json's <c>chat_template</c> is either one template or a list of <c>{"name", "template"}</c> objects
/// (as NousResearch's Hermes and Cohere's Command-R publish them: "default", "tool_use", "rag"), of which transformers
/// applies the one named "default" unless told another; llama.cpp's converter writes that one as GGUF
/// <c>tokenizer.chat_template</c> and each other as <c>tokenizer.chat_template.NAME</c>. Both are read here the same
/// way. A template only helps pick a chat format, so a malformed one is skipped, never a reason to fail a load.
/// </summary>
public static class ChatTemplateFiles
{
    /// <summary>The GGUF key of the default template; a named one's key is this, a dot and the name.</summary>
    public const string GgufKey = "tokenizer.chat_template";

    /// <summary>The name transformers and llama.cpp give the template applied when none is named.</summary>
    public const string DefaultName = "default";

    public static readonly IReadOnlyDictionary<string, string> None = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The templates of a Hugging Face folder's tokenizer_config.json; (null, none) without the file or the field.</summary>
    public static (string? Default, IReadOnlyDictionary<string, string> Named) ReadHuggingFace(string folder)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return (null, None);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("chat_template", out var template))
                return (null, None);
            if (template.ValueKind == JsonValueKind.String) return (template.GetString(), None);
            if (template.ValueKind != JsonValueKind.Array) return (null, None);
            string? chosen = null;
            var named = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in template.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object
                    || !entry.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                    || !entry.TryGetProperty("template", out var text) || text.ValueKind != JsonValueKind.String)
                    continue;
                if (name.GetString() == DefaultName) chosen = text.GetString();
                else if (!string.IsNullOrEmpty(name.GetString())) named.TryAdd(name.GetString()!, text.GetString()!);
            }
            return (chosen, named);
        }
        catch (JsonException)
        {
            return (null, None);
        }
    }

    /// <summary>The templates of a GGUF file: <c>tokenizer.chat_template</c> and every <c>tokenizer.chat_template.NAME</c> that is a string.</summary>
    public static (string? Default, IReadOnlyDictionary<string, string> Named) ReadGguf(GgufMetadata metadata)
    {
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string key in metadata.Values.Keys)
        {
            if (key.Length <= GgufKey.Length + 1 || !key.StartsWith(GgufKey + ".", StringComparison.Ordinal)) continue;
            if (metadata.Get(key) is { Value: string text }) named.TryAdd(key[(GgufKey.Length + 1)..], text);
        }
        return (metadata.GetString(GgufKey), named.Count > 0 ? named : None);
    }

    /// <summary>The GGUF key of the template named <paramref name="name"/>.</summary>
    public static string GgufKeyOf(string name) => GgufKey + "." + name;
}
