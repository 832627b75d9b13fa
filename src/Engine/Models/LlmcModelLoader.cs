using System.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Loads an LlmCpu INT4 model file: maps it, checks it, and builds matrices directly over the mapped tile layout,
/// so loading costs the checksum pass and nothing else (no weight is copied or transformed).
/// </summary>
public static unsafe class LlmcModelLoader
{
    public static LanguageModel Load(string path, LoadOptions options)
    {
        var clock = Stopwatch.StartNew();
        var file = LlmcFile.Open(path, verifyChecksums: true, options.Cancellation, readIntoMemory: !options.MemoryMap);
        try
        {
            var d = file.Directory;
            var s = d.Config;
            var config = d.Config;
            config.Validate(path);
            TextTokenizer tokenizer = d.TokenizerKind switch
            {
                "SentencePiece" => SentencePieceTextTokenizer.Load(file.ReadBytes(d.Tokenizer), path),
                ByteLevelBpeTextTokenizer.StoredKind => ByteLevelBpeTextTokenizer.FromStoredJson(file.ReadBytes(d.Tokenizer), path),
                _ => throw new ModelNotSupportedException(path, "tokenizerKind", $"'{d.TokenizerKind}' is not supported (SentencePiece and ByteLevelBpe are)"),
            };
            if (tokenizer.VocabularySize > config.VocabularySize)
                throw new ModelFormatException(path, "tokenizer", $"{tokenizer.VocabularySize} pieces exceed the vocabulary of {config.VocabularySize}");
            if (options.Precision is not (ModelPrecision.AsStored or ModelPrecision.Int4))
                options.Log.Warning($"'{path}' is an INT4 model file; it loads as stored ({d.Quantization.Format}), not as {options.Precision}.");

            var tensors = d.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
            var activations = options.Activations;
            WeightMatrix Matrix(string name, int rows, int columns)
            {
                if (!tensors.TryGetValue(name, out var t)) throw new ModelFormatException(path, $"tensor '{name}'", "is missing");
                if (t.Rows != rows || t.Columns != columns) throw new ModelFormatException(path, $"tensor '{name}' shape", $"is {t.Rows}x{t.Columns}, expected {rows}x{columns}");
                return t.Kind switch
                {
                    "int4" => Int4Matrix.FromMemory(rows, columns, new Int4Format(t.GroupSize!.Value, t.Asymmetric!.Value), activations,
                        file.Pointer(t.Blobs["quants"]), (ushort*)file.Pointer(t.Blobs["scales"]),
                        t.Asymmetric!.Value ? file.Pointer(t.Blobs["zeros"]) : null),
                    "q8_0" => Q8Matrix.FromMemory(rows, columns, (sbyte*)file.Pointer(t.Blobs["codes"]), (ushort*)file.Pointer(t.Blobs["scales"])),
                    "f16" => Float16Matrix.FromMemory(rows, columns, (Half*)file.Pointer(t.Blobs["data"])),
                    "f32" => Float32Matrix.FromMemory(rows, columns, (float*)file.Pointer(t.Blobs["data"])),
                    _ => throw new ModelNotSupportedException(path, $"tensor '{name}' kind", $"'{t.Kind}' is not supported"),
                };
            }
            float[] Vector(string name, int length)
            {
                if (!tensors.TryGetValue(name, out var t) || t.Kind != "f32") throw new ModelFormatException(path, $"tensor '{name}'", "is missing or not f32");
                if ((long)t.Rows * t.Columns != length) throw new ModelFormatException(path, $"tensor '{name}' shape", $"has {(long)t.Rows * t.Columns} values, expected {length}");
                return new ReadOnlySpan<float>(file.Pointer(t.Blobs["data"]), length).ToArray();
            }

            int dim = config.EmbeddingLength, ffn = config.FeedForwardLength, vocab = config.VocabularySize;
            float[]? Optional(bool present, string name, int length) => present ? Vector(name, length) : null;
            var embedding = Matrix(LlmcTensorNames.TokenEmbedding, vocab, dim);
            var layers = new LayerWeights[config.LayerCount];
            for (int i = 0; i < layers.Length; i++)
            {
                int qkvRows = dim + 2 * config.KvDim, gateUpRows = config.FeedForwardGated ? 2 * ffn : ffn;
                bool ownFeedForwardNorm = config.Residual != ResidualLayout.ParallelSharedNorm;
                layers[i] = new LayerWeights
                {
                    AttentionNorm = Vector(LlmcTensorNames.AttentionNorm(i), dim),
                    AttentionNormBias = Optional(config.NormBias, LlmcTensorNames.Bias(LlmcTensorNames.AttentionNorm(i)), dim),
                    QueryKeyValue = Matrix(LlmcTensorNames.QueryKeyValue(i), qkvRows, dim),
                    QueryKeyValueBias = Optional(config.AttentionBias, LlmcTensorNames.Bias(LlmcTensorNames.QueryKeyValue(i)), qkvRows),
                    AttentionOutput = Matrix(LlmcTensorNames.AttentionOutput(i), dim, dim),
                    AttentionOutputBias = Optional(config.AttentionOutputBias, LlmcTensorNames.Bias(LlmcTensorNames.AttentionOutput(i)), dim),
                    FeedForwardNorm = Optional(ownFeedForwardNorm, LlmcTensorNames.FeedForwardNorm(i), dim),
                    FeedForwardNormBias = Optional(ownFeedForwardNorm && config.NormBias, LlmcTensorNames.Bias(LlmcTensorNames.FeedForwardNorm(i)), dim),
                    GateUp = Matrix(LlmcTensorNames.GateUp(i), gateUpRows, dim),
                    GateUpBias = Optional(config.FeedForwardBias, LlmcTensorNames.Bias(LlmcTensorNames.GateUp(i)), gateUpRows),
                    Down = Matrix(LlmcTensorNames.Down(i), dim, ffn),
                    DownBias = Optional(config.FeedForwardBias, LlmcTensorNames.Bias(LlmcTensorNames.Down(i)), dim),
                };
            }
            var output = config.TiedEmbeddings ? embedding : Matrix(LlmcTensorNames.Output, vocab, dim);
            var weights = new ModelWeights(embedding, layers, Vector(LlmcTensorNames.OutputNorm, dim), output,
                Optional(config.NormBias, LlmcTensorNames.Bias(LlmcTensorNames.OutputNorm), dim),
                Optional(config.OutputBias, LlmcTensorNames.Bias(LlmcTensorNames.Output), vocab));
            options.Log.Verbose($"{(file.IsMapped ? "Mapped" : "Read")} '{path}' ({d.Quantization.Format}, {file.Length / 1048576.0:F1} MiB) in {clock.Elapsed.TotalSeconds:F3} s, checksums verified.");
            return new LanguageModel(d.Name, System.IO.Path.GetFullPath(path), config, weights, tokenizer, d.Quantization.Format,
                d.Quantization.Format, file.Length, clock.Elapsed, storage: file) { IsMemoryMapped = file.IsMapped, Quantization = d.Quantization, ChatTemplateText = d.ChatTemplate,
                    NamedChatTemplates = d.NamedChatTemplates ?? ChatTemplateFiles.None };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
