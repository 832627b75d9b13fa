using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A loaded model: configuration, weights in kernel layout, tokenizer, and where it came from.
/// Thread-safe to share: sessions created from it hold all mutable state.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private readonly IDisposable? _storage;

    internal LanguageModel(string name, string path, ModelConfig config, ModelWeights weights, TextTokenizer tokenizer,
        string storedPrecision, string precision, long fileSizeBytes, TimeSpan loadTime, IDisposable? storage)
    {
        Name = name;
        Path = path;
        Config = config;
        Weights = weights;
        Tokenizer = tokenizer;
        StoredPrecision = storedPrecision;
        Precision = precision;
        FileSizeBytes = fileSizeBytes;
        LoadTime = loadTime;
        _storage = storage;
    }

    public string Name { get; }

    public string Architecture => Config.Architecture;

    public long Parameters => Config.ParameterCount;

    /// <summary>The precision weights are computed in (for example F32, Q4 g128).</summary>
    public string Precision { get; }

    /// <summary>The precision the file stores.</summary>
    public string StoredPrecision { get; }

    /// <summary>Bytes of the model's files on disk.</summary>
    public long FileSizeBytes { get; }

    /// <summary>Bytes of weights held for computation.</summary>
    public long WeightBytes => Weights.ByteSize;

    /// <summary>
    /// Bytes of weights the engine holds in its own memory. A model mapped in its compute layout (an INT4 .llmc file)
    /// holds almost nothing here: its weights are the file's pages, shared with the page cache and read lazily.
    /// </summary>
    public long ResidentBytes => Weights.OwnedBytes;

    /// <summary>Bytes of weights used in place from a memory-mapped file.</summary>
    public long MappedBytes => Weights.MappedBytes;

    public int ContextLength => Config.ContextLength;

    public int VocabularySize => Config.VocabularySize;

    public int LayerCount => Config.LayerCount;

    public string Path { get; }

    public TimeSpan LoadTime { get; }

    public ModelConfig Config { get; }

    internal ModelWeights Weights { get; }

    public TextTokenizer Tokenizer { get; }

    /// <summary>The quantization report embedded in an INT4 model file, or null for other files.</summary>
    public Formats.Llmc.QuantizationReport? Quantization { get; init; }

    public override string ToString() => $"{Name} ({Architecture}, {Precision})";

    public void Dispose()
    {
        Weights.Dispose();
        _storage?.Dispose();
    }
}
