using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Writes random-weight GGUF models with real shapes, as llama.cpp's tools would lay them out for the shape's family:
/// every matrix Q4_0 (like a "pure" Q4_0 quantization) or F16, norms and biases F32, the bundled SentencePiece
/// vocabulary padded to the shape's vocabulary. Q4_0 blocks are written directly as random 4-bit codes with random
/// FP16 scales, tensor by tensor through the streaming writer, so no matrix is ever held as FP32 and no model is ever
/// held whole.
/// </summary>
public static class SyntheticGgufWriter
{
    public static void Write(SyntheticShape shape, string destination, GgmlType type, byte[] sentencePieceTokenizer, int seed,
        bool overwrite, IEngineLog? log = null, CancellationToken cancellation = default)
    {
        if (type is not (GgmlType.Q4_0 or GgmlType.F16)) throw new ArgumentOutOfRangeException(nameof(type), type, "Synthetic GGUF models are Q4_0 or F16.");
        log ??= NullEngineLog.Instance;
        var config = shape.ToConfig();
        config.Validate(destination);
        var random = new Xoshiro(seed);
        var writer = new GgufWriter();
        GgufArchitectureMetadata.Add(writer, config, $"{shape.Name} (random)", type);
        SentencePieceGgufMetadata.Add(writer, SentencePieceVocabulary.Parse(sentencePieceTokenizer), config);

        int d = shape.EmbeddingLength, kv = config.KvDim, f = shape.FeedForwardLength, v = shape.VocabularySize;
        void Matrix(string name, int rows, int columns) =>
            writer.AddTensor(name, type, [columns, rows], (_, stream, token) => WriteRandomRows(stream, type, rows, columns, random, token));
        void Vector(string name, int length, Func<float> value) =>
            writer.AddTensor(name, GgmlType.F32, [length], (_, stream, _) =>
            {
                var bytes = new byte[length * sizeof(float)];
                for (int i = 0; i < length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * sizeof(float)), value());
                stream.Write(bytes);
            });
        // Norms of ones (and zero biases); projection biases small and random, so a model that skipped them would differ.
        void Norm(string pattern, int layer = 0)
        {
            Vector(TensorNameTable.Weight(pattern, layer), d, () => 1f);
            if (config.NormBias) Vector(TensorNameTable.Bias(pattern, layer), d, () => 0f);
        }
        void Projection(string pattern, int layer, int rows, int columns, bool bias)
        {
            Matrix(TensorNameTable.Weight(pattern, layer), rows, columns);
            if (bias) Vector(TensorNameTable.Bias(pattern, layer), rows, () => (random.NextFloat() - 0.5f) * 0.02f);
        }

        // llama.cpp's names for the family (a Llama's Q and K row order does not matter for random weights).
        var names = ArchitectureTables.Gguf(config);
        Matrix(TensorNameTable.Weight(names.TokenEmbedding), v, d);
        for (int i = 0; i < shape.LayerCount; i++)
        {
            Norm(names.AttentionNorm, i);
            if (names.QueryKeyValue != null) Projection(names.QueryKeyValue, i, d + 2 * kv, d, config.AttentionBias);
            else
            {
                Projection(names.Query!, i, d, d, config.AttentionBias);
                Projection(names.Key!, i, kv, d, config.AttentionBias);
                Projection(names.Value!, i, kv, d, config.AttentionBias);
            }
            Projection(names.AttentionOutput, i, d, d, config.AttentionOutputBias);
            if (names.FeedForwardNorm != null) Norm(names.FeedForwardNorm, i);
            if (config.FeedForwardGated) Projection(names.Gate!, i, f, d, config.FeedForwardBias);
            Projection(names.Up, i, f, d, config.FeedForwardBias);
            Projection(names.Down, i, d, f, config.FeedForwardBias);
        }
        Norm(names.OutputNorm);
        if (!config.TiedEmbeddings) Projection(names.Output, 0, v, d, config.OutputBias);
        log.Verbose($"Writing {writer.Tensors.Count} random {type} tensors, {writer.FileSize / 1048576.0:F1} MiB, to '{destination}'.");
        writer.WriteFile(destination, overwrite, cancellation);
    }

    /// <summary>Rows of random zero-mean weights with a spread of about 0.02: Q4_0 blocks of random codes, or FP16 values.</summary>
    private static unsafe void WriteRandomRows(Stream stream, GgmlType type, int rows, int columns, Xoshiro random, CancellationToken cancellation)
    {
        var row = new byte[GgmlQuantizer.RowBytes(type, columns)];
        for (int r = 0; r < rows; r++)
        {
            if ((r & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            fixed (byte* p = row)
            {
                if (type == GgmlType.Q4_0)
                {
                    random.FillZeroMeanInt4(p, row.Length);
                    // Each 18-byte block starts with its FP16 scale; the 16 bytes after it are the codes (zero-mean).
                    for (int b = 0; b < row.Length; b += 18)
                        *(ushort*)(p + b) = BitConverter.HalfToUInt16Bits((Half)(0.005f * (0.5f + random.NextFloat())));
                }
                else
                {
                    for (int k = 0; k < columns; k++) ((Half*)p)[k] = (Half)((random.NextFloat() - 0.5f) * 0.08f);
                }
            }
            stream.Write(row);
        }
    }
}
