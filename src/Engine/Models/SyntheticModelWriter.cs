using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Writes random-weight models with real shapes, for speed work where real weights of that size cannot be had.
/// INT4 tensors are filled with random 4-bit codes and scales directly (the same kind of values a quantizer
/// produces: zero mean, a standard deviation of about 0.02, so activations stay finite through every layer), one
/// tensor at a time, so no FP32 copy of a matrix, let alone the model, exists.
/// </summary>
public static unsafe class SyntheticModelWriter
{
    /// <summary>Scale of a random INT4 group: codes -8..7 times this spread weights over about +-0.04.</summary>
    private const float TypicalScale = 0.005f;

    public static void WriteLlmc(SyntheticShape shape, string destination, Int4Format format, byte[] sentencePieceTokenizer, int seed,
        bool overwrite, IEngineLog? log = null, CancellationToken cancellation = default)
    {
        log ??= NullEngineLog.Instance;
        if (!shape.WritesAsLlmc)
            throw new ArgumentException($"Synthetic .llmc files are Llama-shaped; {shape.Name} is {shape.Architecture}: write it as a GGUF and convert that.", nameof(shape));
        var config = shape.ToConfig();
        config.Validate(destination);
        var tokenizer = Tokenization.SentencePieceTextTokenizer.Load(sentencePieceTokenizer, "tokenizer");
        if (tokenizer.VocabularySize > shape.VocabularySize)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabularySize} pieces, more than the shape's vocabulary of {shape.VocabularySize}.", nameof(sentencePieceTokenizer));
        var random = new Xoshiro(seed);
        int dim = shape.EmbeddingLength, kvDim = config.KvDim, ffn = shape.FeedForwardLength, vocab = shape.VocabularySize;
        using var writer = new LlmcWriter(destination, overwrite);
        using (var embedding = RandomFloat16(vocab, dim, random, cancellation)) writer.AddMatrix(LlmcTensorNames.TokenEmbedding, embedding);
        var ones = Enumerable.Repeat(1f, dim).ToArray();
        for (int i = 0; i < shape.LayerCount; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            log.Progress("Writing synthetic model", $"layer {i + 1} of {shape.LayerCount}", 100 * i / shape.LayerCount);
            writer.AddVector(LlmcTensorNames.AttentionNorm(i), ones);
            using (var m = RandomInt4(dim + 2 * kvDim, dim, format, random, cancellation)) writer.AddMatrix(LlmcTensorNames.QueryKeyValue(i), m);
            using (var m = RandomInt4(dim, dim, format, random, cancellation)) writer.AddMatrix(LlmcTensorNames.AttentionOutput(i), m);
            writer.AddVector(LlmcTensorNames.FeedForwardNorm(i), ones);
            using (var m = RandomInt4(2 * ffn, dim, format, random, cancellation)) writer.AddMatrix(LlmcTensorNames.GateUp(i), m);
            using (var m = RandomInt4(dim, ffn, format, random, cancellation)) writer.AddMatrix(LlmcTensorNames.Down(i), m);
        }
        writer.AddVector(LlmcTensorNames.OutputNorm, ones);
        // The output projection in the format ConvertTo-Int4Model gives it, so a synthetic file reads what a converted one reads.
        using (var output = RandomInt4(vocab, dim, Int4ModelConverter.DefaultOutputFormat, random, cancellation)) writer.AddMatrix(LlmcTensorNames.Output, output);
        var report = new QuantizationReport
        {
            Recipe = "random (synthetic weights)", Format = format.ToString(), GroupSize = format.GroupSize, Asymmetric = format.Asymmetric,
            Activations = nameof(ActivationMode.Int8), EdgePrecision = $"embedding F16, output {Int4ModelConverter.DefaultOutputFormat}",
            SourcePrecision = "none", Source = shape.Name,
            CreatedBy = "LlmCpu " + typeof(SyntheticModelWriter).Assembly.GetName().Version?.ToString(3), Created = DateTimeOffset.UtcNow,
        };
        writer.Complete($"{shape.Name} (random)", config, "SentencePiece", sentencePieceTokenizer, report);
        log.Progress("Writing synthetic model", "done", 100);
    }

    /// <summary>Bytes filled between two checks for a stop request: a few milliseconds of work, so Ctrl+C is prompt on a busy machine.</summary>
    private const long CancellationSlice = 1 << 20;

    private static Int4Matrix RandomInt4(int rows, int columns, Int4Format format, Xoshiro random, CancellationToken cancellation)
    {
        var matrix = new Int4Matrix(rows, columns, format);
        var (quants, scales, zeros) = matrix.RawArrays;
        // In slices that are whole multiples of 8 bytes, so the random stream (8 bytes a draw) is the same as in one go.
        for (long done = 0; done < matrix.QuantBytes; done += CancellationSlice)
        {
            if (cancellation.IsCancellationRequested)
            {
                matrix.Dispose();
                cancellation.ThrowIfCancellationRequested();
            }
            random.FillZeroMeanInt4((byte*)quants + done, Math.Min(CancellationSlice, matrix.QuantBytes - done));
        }
        var s = (ushort*)scales;
        for (long i = 0; i < matrix.ScaleBytes / 2; i++) s[i] = BitConverter.HalfToUInt16Bits((Half)(TypicalScale * (0.5f + random.NextFloat())));
        if (zeros != 0) new Span<byte>((byte*)zeros, checked((int)matrix.ZeroBytes)).Fill(8);
        return matrix;
    }

    private static Float16Matrix RandomFloat16(int rows, int columns, Xoshiro random, CancellationToken cancellation)
    {
        var matrix = new Float16Matrix(rows, columns);
        for (int r = 0; r < rows; r++)
        {
            if (r % 256 == 0 && cancellation.IsCancellationRequested)
            {
                matrix.Dispose();
                cancellation.ThrowIfCancellationRequested();
            }
            var row = matrix.RowSpan(r);
            for (int k = 0; k < columns; k++) row[k] = (Half)((random.NextFloat() - 0.5f) * 0.08f);
        }
        return matrix;
    }
}
