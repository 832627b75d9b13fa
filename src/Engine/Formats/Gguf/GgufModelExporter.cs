using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Writes a loaded model as a GGUF file llama.cpp loads: the family's tensor names (<see cref="ArchitectureTables"/>),
/// the <c>{architecture}.*</c> hyperparameters, the SentencePiece vocabulary, and a Llama's query/key rows in llama.cpp's
/// rotary order. Refused where llama.cpp would compute something else (<see cref="GgufArchitectureMetadata.Mismatch"/>). Every matrix is read back row by
/// row from the engine's own storage (whatever its precision), split where the engine stacks several projections into
/// one matrix, and encoded as the file type asks; so a model loaded as INT4 with groups of 32 exports to Q4_0 without
/// further loss (its values are already on the Q4_0 grid, and ggml's quantizer maps them back to the same codes).
/// </summary>
public static class GgufModelExporter
{
    private const string Activity = "Exporting GGUF";

    /// <exception cref="ArgumentException">The type is not one of F32, F16, Q8_0, Q4_0, or a row does not fill whole blocks.</exception>
    /// <exception cref="OutputFileExistsException">The file exists and <see cref="GgufExportOptions.Overwrite"/> is not set.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; no file is left behind.</exception>
    public static void Export(LanguageModel model, string path, GgufExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new GgufExportOptions();
        // The writer reads the weights as it writes: they must stay allocated even if the model is disposed meanwhile.
        model.Use(_ =>
        {
            var writer = CreateWriter(model, options);
            options.Log.Verbose($"Writing {writer.Tensors.Count} tensors ({options.Type}) to '{path}', {writer.FileSize / (1024.0 * 1024.0):F1} MiB.");
            writer.WriteFile(path, options.Overwrite, options.Cancellation);
            return 0;
        });
        options.Log.Progress(Activity, "done", 100);
    }

    /// <summary>Everything <see cref="Export"/> writes, described but not yet written; data is read from the model when written.</summary>
    public static GgufWriter CreateWriter(LanguageModel model, GgufExportOptions options) => CreateWriter(model, options, requireLlamaCppGraph: true);

    /// <param name="requireLlamaCppGraph">
    /// False writes a family llama.cpp has no graph for (GPT-J) in its conventions, so that tests can read such a file.
    /// </param>
    internal static GgufWriter CreateWriter(LanguageModel model, GgufExportOptions options, bool requireLlamaCppGraph)
    {
        var type = options.Type;
        if (!Enum.IsDefined(type) || !GgmlQuantizer.CanEncode(type))
            throw new ArgumentOutOfRangeException(nameof(options), type, "Models are exported as F32, F16, Q8_0 or Q4_0.");
        var config = model.Config;
        if (requireLlamaCppGraph && GgufArchitectureMetadata.Mismatch(config) is { } mismatch)
            throw new ModelNotSupportedException(model.Path, "architecture", $"this {config.Architecture} model cannot be exported to GGUF: llama.cpp would not honour {mismatch}");
        if (model.Tokenizer is not SentencePieceTextTokenizer tokenizer)
            throw new ModelNotSupportedException(model.Path, "tokenizer", $"a {model.Tokenizer.Kind} tokenizer cannot be exported yet; SentencePiece can");

        var writer = new GgufWriter();
        GgufArchitectureMetadata.Add(writer, config, options.Name ?? model.Name, type);
        // The vocabulary the model was loaded with, whatever file it came from (tokenizer.model, GGUF metadata, .llmc).
        SentencePieceGgufMetadata.Add(writer, SentencePieceVocabulary.Parse(tokenizer.ModelBytes.ToArray()), config);
        // The chat template travels with the model, as llama.cpp's converter writes it, so chat sessions recognise it.
        if (model.ChatTemplateText is { } chatTemplate) writer.AddMetadata(ChatTemplateFiles.GgufKey, GgufValue.String(chatTemplate));
        foreach (var (name, text) in model.NamedChatTemplates) writer.AddMetadata(ChatTemplateFiles.GgufKeyOf(name), GgufValue.String(text));
        AddTensors(writer, model, options);
        return writer;
    }

    private static void AddTensors(GgufWriter writer, LanguageModel model, GgufExportOptions options)
    {
        var config = model.Config;
        var weights = model.Weights;
        var names = ArchitectureTables.Gguf(config);
        var layerType = options.Type;
        var edgeType = layerType is GgmlType.F32 or GgmlType.F16 || options.QuantizeEmbeddingAndOutput ? layerType : GgmlType.F16;
        int d = config.EmbeddingLength, kv = config.KvDim, f = config.FeedForwardLength;
        var progress = new ExportProgress(options.Log);
        void Vector(string pattern, int layer, float[]? values, bool bias, int offset = 0, int length = -1, Func<int, int>? sourceRow = null)
        {
            if (values == null) return;
            length = length < 0 ? values.Length : length;
            var slice = Enumerable.Range(0, length).Select(i => values[offset + (sourceRow?.Invoke(i) ?? i)]).ToArray();
            AddVector(writer, progress, bias ? TensorNameTable.Bias(pattern, layer) : TensorNameTable.Weight(pattern, layer), slice);
        }

        AddMatrix(writer, progress, TensorNameTable.Weight(names.TokenEmbedding), edgeType, weights.TokenEmbedding, 0, config.VocabularySize);
        for (int i = 0; i < config.LayerCount; i++)
        {
            var layer = weights.Layers[i];
            Vector(names.AttentionNorm, i, layer.AttentionNorm, bias: false);
            Vector(names.AttentionNorm, i, layer.AttentionNormBias, bias: true);
            if (names.QueryKeyValue is { } fused)
            {
                AddMatrix(writer, progress, TensorNameTable.Weight(fused, i), layerType, layer.QueryKeyValue, 0, d + 2 * kv);
                Vector(fused, i, layer.QueryKeyValueBias, bias: true);
            }
            else
            {
                // llama.cpp rotates a Llama's adjacent pairs: its converter's row order, undone by the loader.
                Func<int, int>? queryRow = names.QueryKeyRowsInterleaved ? row => LlamaRotaryRowOrder.SourceRow(row, d, config.HeadCount) : null;
                Func<int, int>? keyRow = names.QueryKeyRowsInterleaved ? row => LlamaRotaryRowOrder.SourceRow(row, kv, config.KvHeadCount) : null;
                AddMatrix(writer, progress, TensorNameTable.Weight(names.Query!, i), layerType, layer.QueryKeyValue, 0, d, queryRow);
                AddMatrix(writer, progress, TensorNameTable.Weight(names.Key!, i), layerType, layer.QueryKeyValue, d, kv, keyRow);
                AddMatrix(writer, progress, TensorNameTable.Weight(names.Value!, i), layerType, layer.QueryKeyValue, d + kv, kv);
                Vector(names.Query!, i, layer.QueryKeyValueBias, bias: true, 0, d, queryRow);
                Vector(names.Key!, i, layer.QueryKeyValueBias, bias: true, d, kv, keyRow);
                Vector(names.Value!, i, layer.QueryKeyValueBias, bias: true, d + kv, kv);
            }
            AddMatrix(writer, progress, TensorNameTable.Weight(names.AttentionOutput, i), layerType, layer.AttentionOutput, 0, d);
            Vector(names.AttentionOutput, i, layer.AttentionOutputBias, bias: true);
            if (names.FeedForwardNorm is { } feedForwardNorm)
            {
                Vector(feedForwardNorm, i, layer.FeedForwardNorm, bias: false);
                Vector(feedForwardNorm, i, layer.FeedForwardNormBias, bias: true);
            }
            if (config.FeedForwardGated)
            {
                AddMatrix(writer, progress, TensorNameTable.Weight(names.Gate!, i), layerType, layer.GateUp, 0, f);
                Vector(names.Gate!, i, layer.GateUpBias, bias: true, 0, f);
            }
            int up = config.FeedForwardGated ? f : 0;
            AddMatrix(writer, progress, TensorNameTable.Weight(names.Up, i), layerType, layer.GateUp, up, f);
            Vector(names.Up, i, layer.GateUpBias, bias: true, up, f);
            AddMatrix(writer, progress, TensorNameTable.Weight(names.Down, i), layerType, layer.Down, 0, d);
            Vector(names.Down, i, layer.DownBias, bias: true);
        }
        Vector(names.OutputNorm, 0, weights.OutputNorm, bias: false);
        Vector(names.OutputNorm, 0, weights.OutputNormBias, bias: true);
        // Without output.weight llama.cpp multiplies by the token embedding: how tied embeddings are stored.
        if (!ReferenceEquals(weights.Output, weights.TokenEmbedding))
            AddMatrix(writer, progress, TensorNameTable.Weight(names.Output), edgeType, weights.Output, 0, config.VocabularySize);
        Vector(names.Output, 0, weights.OutputBias, bias: true);
        if (config.RopeScaling.Type == RopeScalingType.Llama3)
        {
            // llama.cpp reads Llama 3's scaling as the divisor of each rotated pair's frequency.
            AddVector(writer, progress, "rope_freqs.weight", config.RopeScaling.FrequencyDivisors(config.RotaryDimensions, config.RopeTheta));
        }
        progress.Total = writer.Tensors.Sum(t => t.ByteSize);
    }

    /// <summary>Rows [firstRow, firstRow + rows) of <paramref name="matrix"/>, row r taken from firstRow + sourceRow(r).</summary>
    private static void AddMatrix(GgufWriter writer, ExportProgress progress, string name, GgmlType type, WeightMatrix matrix,
        int firstRow, int rows, Func<int, int>? sourceRow = null)
    {
        if (firstRow + rows > matrix.Rows)
            throw new InvalidOperationException($"Tensor '{name}': rows [{firstRow}, {firstRow + rows}) lie outside the engine's matrix of {matrix.Rows}.");
        int columns = matrix.Columns;
        if (columns % type.BlockSize() != 0)
            throw new ArgumentException($"Tensor '{name}' has rows of {columns} values; {type} needs a multiple of {type.BlockSize()}.");
        writer.AddTensor(name, type, [columns, rows], (info, destination, cancellation) =>
        {
            progress.Report(info);
            var values = new float[columns];
            var encoded = new byte[GgmlQuantizer.RowBytes(type, columns)];
            for (int r = 0; r < rows; r++)
            {
                cancellation.ThrowIfCancellationRequested();
                matrix.DequantizeRow(firstRow + (sourceRow?.Invoke(r) ?? r), values);
                GgmlQuantizer.Encode(type, values, encoded);
                destination.Write(encoded);
            }
        });
    }

    private static void AddVector(GgufWriter writer, ExportProgress progress, string name, float[] values) =>
        writer.AddTensor(name, GgmlType.F32, [values.Length], (info, destination, _) =>
        {
            progress.Report(info);
            var encoded = new byte[GgmlQuantizer.RowBytes(GgmlType.F32, values.Length)];
            GgmlQuantizer.EncodeF32(values, encoded);
            destination.Write(encoded);
        });

    /// <summary>Reports each tensor as it starts, with the share of the data written before it.</summary>
    private sealed class ExportProgress(Diagnostics.IEngineLog log)
    {
        public long Total { get; set; }

        public void Report(GgufTensorLayout tensor) =>
            log.Progress(Activity, tensor.Name, Total > 0 ? (int)Math.Min(99, tensor.Offset * 100 / Total) : -1);
    }
}
