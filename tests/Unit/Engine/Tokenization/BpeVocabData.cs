using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>One reference tokenization from llama.cpp's tests: input text and the ids llama.cpp gives it (no BOS, control tokens not parsed).</summary>
public sealed record BpeReferenceCase(string Text, int[] Ids);

/// <summary>
/// A byte-level BPE vocabulary from llama.cpp's <c>models/ggml-vocab-*.gguf</c> with its reference cases, as
/// tools/tokenizer-vectors/extract_vocab.py writes it to tests/Unit/TestData/bpe-vocab/&lt;name&gt;.json.gz.
/// </summary>
public sealed class BpeVocabData
{
    public static readonly string[] Names = ["gpt-2", "llama-bpe", "qwen2", "falcon", "starcoder", "mpt"];

    private static readonly ConcurrentDictionary<string, Lazy<BpeVocabData>> Loaded = new();
    private readonly Lazy<ByteLevelBpeTextTokenizer> _tokenizer;

    private BpeVocabData(string name, JsonElement root)
    {
        Name = name;
        Path = FilePath(name);
        Pre = root.GetProperty("pre").GetString();
        BosId = root.GetProperty("bos_id").ValueKind == JsonValueKind.Number ? root.GetProperty("bos_id").GetInt32() : -1;
        EosId = root.GetProperty("eos_id").ValueKind == JsonValueKind.Number ? root.GetProperty("eos_id").GetInt32() : -1;
        AddBos = root.GetProperty("add_bos").ValueKind == JsonValueKind.True;
        Tokens = [.. root.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        TokenTypes = [.. root.GetProperty("token_types").EnumerateArray().Select(t => t.GetInt32())];
        Merges = [.. root.GetProperty("merges").EnumerateArray().Select(t => t.GetString()!)];
        Cases = [.. root.GetProperty("cases").EnumerateArray().Select(c =>
            new BpeReferenceCase(c.GetProperty("text").GetString()!, [.. c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32())]))];
        _tokenizer = new(() => ByteLevelBpeTextTokenizer.FromGgufMetadata(Tokens, TokenTypes, Merges, Pre, BosId, EosId, AddBos, Path));
    }

    public string Name { get; }

    public string Path { get; }

    public string? Pre { get; }

    public int BosId { get; }

    public int EosId { get; }

    public bool AddBos { get; }

    public string[] Tokens { get; }

    public int[] TokenTypes { get; }

    public string[] Merges { get; }

    public BpeReferenceCase[] Cases { get; }

    /// <summary>Built once per test run: the larger vocabularies take a noticeable moment.</summary>
    public ByteLevelBpeTextTokenizer Tokenizer => _tokenizer.Value;

    public static BpeVocabData Get(string name) => Loaded.GetOrAdd(name, n => new Lazy<BpeVocabData>(() => Load(n))).Value;

    public static string FilePath(string name) => System.IO.Path.Combine(RepoPaths.Root, "tests", "Unit", "TestData", "bpe-vocab", name + ".json.gz");

    private static BpeVocabData Load(string name)
    {
        using var file = File.OpenRead(FilePath(name));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var document = JsonDocument.Parse(gzip);
        return new BpeVocabData(name, document.RootElement);
    }
}
