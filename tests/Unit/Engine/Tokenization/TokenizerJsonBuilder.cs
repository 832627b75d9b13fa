using System.Text.Json.Nodes;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>Writes Hugging Face tokenizer.json files for tests: from a llama.cpp vocabulary, or a small one by hand.</summary>
public static class TokenizerJsonBuilder
{
    /// <summary>GPT-2's file: one ByteLevel step that splits with GPT-2's expression.</summary>
    public static JsonObject ByteLevelPreTokenizer(bool addPrefixSpace = false, bool useRegex = true) => new()
    {
        ["type"] = "ByteLevel",
        ["add_prefix_space"] = addPrefixSpace,
        ["trim_offsets"] = true,
        ["use_regex"] = useRegex,
    };

    /// <summary>Llama 3's and Qwen2's files: a Split with the model's expression, then ByteLevel without one.</summary>
    public static JsonObject SplitThenByteLevel(string regex) => new()
    {
        ["type"] = "Sequence",
        ["pretokenizers"] = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "Split",
                ["pattern"] = new JsonObject { ["Regex"] = regex },
                ["behavior"] = "Isolated",
                ["invert"] = false,
            },
            ByteLevelPreTokenizer(useRegex: false),
        },
    };

    /// <summary>Llama 3's post-processor: BOS in front of every sequence.</summary>
    public static JsonObject BosTemplate(string bos, int bosId) => new()
    {
        ["type"] = "TemplateProcessing",
        ["single"] = new JsonArray
        {
            new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
        },
        ["special_tokens"] = new JsonObject { [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(bosId), ["tokens"] = new JsonArray(bos) } },
    };

    /// <summary>
    /// The tokenizer.json a Hugging Face conversion of a llama.cpp vocabulary would have: ordinary tokens in
    /// model.vocab, control tokens as special added tokens, user-defined ones as plain added tokens.
    /// </summary>
    public static JsonObject FromVocab(BpeVocabData data, JsonObject preTokenizer, bool ignoreMerges = false, bool mergesAsPairs = false)
    {
        var vocab = new JsonObject();
        var added = new JsonArray();
        for (int id = 0; id < data.Tokens.Length; id++)
        {
            int type = data.TokenTypes[id];
            if (type == 1)
            {
                vocab[data.Tokens[id]] = id;
                continue;
            }
            added.Add(new JsonObject
            {
                ["id"] = id,
                ["content"] = data.Tokens[id],
                ["single_word"] = false,
                ["lstrip"] = false,
                ["rstrip"] = false,
                ["normalized"] = false,
                ["special"] = type == 3,
            });
        }
        var merges = new JsonArray();
        foreach (string merge in data.Merges)
        {
            if (!mergesAsPairs)
            {
                merges.Add(merge);
                continue;
            }
            int space = merge.IndexOf(' ');
            merges.Add(new JsonArray(merge[..space], merge[(space + 1)..]));
        }
        return Document(vocab, merges, preTokenizer, added, ignoreMerges);
    }

    /// <summary>
    /// A small valid file: the 256 byte symbols (id = byte value), then "he" 256, "ll" 257, "hell" 258,
    /// "hello" 259 from the merges "h e", "l l", "he ll", "hell o", and "&lt;|end|&gt;" 260 as a special token.
    /// </summary>
    public static JsonObject Small()
    {
        var vocab = new JsonObject();
        for (int value = 0; value < 256; value++) vocab[ByteSymbol((byte)value)] = value;
        vocab["he"] = 256;
        vocab["ll"] = 257;
        vocab["hell"] = 258;
        vocab["hello"] = 259;
        var merges = new JsonArray("h e", "l l", "he ll", "hell o");
        var added = new JsonArray
        {
            new JsonObject { ["id"] = 260, ["content"] = "<|end|>", ["special"] = true },
        };
        return Document(vocab, merges, ByteLevelPreTokenizer(), added, ignoreMerges: false);
    }

    public static string Write(JsonObject document, string folder)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, document.ToJsonString());
        return path;
    }

    /// <summary>GPT-2's byte-to-character table, written out independently of the engine's.</summary>
    public static string ByteSymbol(byte value)
    {
        bool printable = value is >= (byte)'!' and <= (byte)'~' or >= 0xA1 and <= 0xAC or >= 0xAE;
        if (printable) return ((char)value).ToString();
        int moved = 0;
        for (int b = 0; b < value; b++)
            if (!(b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE)) moved++;
        return ((char)(256 + moved)).ToString();
    }

    private static JsonObject Document(JsonObject vocab, JsonArray merges, JsonObject preTokenizer, JsonArray added, bool ignoreMerges) => new()
    {
        ["version"] = "1.0",
        ["truncation"] = null,
        ["padding"] = null,
        ["added_tokens"] = added,
        ["normalizer"] = null,
        ["pre_tokenizer"] = preTokenizer,
        ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
        ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
        ["model"] = new JsonObject
        {
            ["type"] = "BPE",
            ["dropout"] = null,
            ["unk_token"] = null,
            ["continuing_subword_prefix"] = null,
            ["end_of_word_suffix"] = null,
            ["fuse_unk"] = false,
            ["byte_fallback"] = false,
            ["ignore_merges"] = ignoreMerges,
            ["vocab"] = vocab,
            ["merges"] = merges,
        },
    };
}
