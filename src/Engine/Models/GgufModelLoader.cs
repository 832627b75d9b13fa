using System.Diagnostics;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Loads a Llama-architecture GGUF file: hyperparameters and tokenizer from its metadata, weights from its tensors.
/// Q and K rows are put back into the rotate-half order the engine uses (see <see cref="RotateHalfRows"/>). Blocks of
/// every quantized type the engine reads are copied into the kernels' tile layouts exactly (see
/// <see cref="MatrixBuilder.KeepsItsOwnBytes"/>); nothing is requantized unless the caller asks for an INT4 format the blocks are not in, and then with a warning.
/// </summary>
public static class GgufModelLoader
{
    public static LanguageModel Load(string path, LoadOptions options)
    {
        var clock = Stopwatch.StartNew();
        using var file = GgufFile.Open(path);
        var config = GgufLlamaConfig.Read(file);
        var tokenizer = GgufTokenizerFactory.Create(file);
        if (tokenizer.VocabularySize > config.VocabularySize)
            throw new ModelFormatException(path, "vocabulary", $"{tokenizer.VocabularySize} tokens exceed the {config.VocabularySize} rows of the embedding");

        var tensors = new GgufLlamaTensors(file, config);
        var builder = new MatrixBuilder(options.Precision, options.Int4Format, options.Activations);
        ReportConversions(tensors, builder, options);
        var weights = ReadWeights(tensors, config, builder, options, file);
        string stored = string.Join("/", file.TensorList.Select(t => t.Type.ToString()).Distinct().Order(StringComparer.Ordinal));
        string precision = weights.Layers[0].QueryKeyValue.Format;
        options.Log.Verbose($"Loaded {config.LayerCount} layers from '{path}' (GGUF v{file.Version}, {stored}, {file.FileLength / 1048576.0:F1} MiB) as {precision} in {clock.Elapsed.TotalSeconds:F2} s.");
        return new LanguageModel(System.IO.Path.GetFileNameWithoutExtension(path), System.IO.Path.GetFullPath(path), config, weights, tokenizer,
            stored, precision, file.FileLength, clock.Elapsed, storage: null);
    }

    /// <summary>Says, once per load, which tensor types are converted rather than kept as stored, and refuses types the engine cannot read.</summary>
    private static void ReportConversions(GgufLlamaTensors tensors, MatrixBuilder builder, LoadOptions options)
    {
        var matrices = tensors.Matrices().ToList();
        foreach (var source in matrices)
        {
            if (!source.Type.CanDequantize())
                throw new ModelNotSupportedException(tensors.Path, $"tensor '{source.Name}' type", $"ggml type {source.Type} ({(uint)source.Type}) is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K are)");
        }
        var dequantized = Types(matrices.Where(m => m.Type.IsQuantized() && !MatrixBuilder.KeepsItsOwnBytes(m.Type)));
        if (dequantized.Count > 0 && builder.Precision is ModelPrecision.AsStored or ModelPrecision.Float32)
            options.Log.Verbose($"{string.Join(", ", dequantized)} blocks have no kernel of their own yet: they are converted exactly to F32.");
        if (builder.Precision == ModelPrecision.AsStored
            && tensors.Stacks().Any(s => s.Any(m => MatrixBuilder.KeepsItsOwnBytes(m.Type)) && !s.All(m => MatrixBuilder.KeepsItsOwnBytes(m.Type))))
            options.Log.Verbose("Where a type with a kernel of its own is stacked with one without (Q, K, V or gate, up), the stacked matrix is held in F32, exactly.");
        if (builder.Precision == ModelPrecision.Int4)
        {
            bool exact = builder.Int4Format == MatrixBuilder.StoredInt4Format;
            var requantized = Types(tensors.LayerMatrices().Where(m => m.Type.IsQuantized() && !(m.Type == GgmlType.Q4_0 && exact)));
            if (requantized.Count > 0)
                options.Log.Warning($"{string.Join(", ", requantized)} blocks are quantized again to {builder.Int4Format} as asked, which adds error to error; " +
                                    $"loading as stored keeps Q4_0 exactly (as {MatrixBuilder.StoredInt4Format}) and converts other types exactly to F32.");
            var edges = Types(tensors.Edges().Where(m => m.Type.IsQuantized() && m.Type != GgmlType.Q4_0));
            if (edges.Count > 0)
                options.Log.Verbose($"The token embedding and output projection ({string.Join(", ", edges)}) are converted to F16, as INT4 models keep those two in F16.");
        }
        else if (builder.Precision == ModelPrecision.Float16 && matrices.Any(m => m.Type.IsQuantized() || m.Type is GgmlType.F32 or GgmlType.BF16))
        {
            options.Log.Verbose("Weights are converted to F16 as asked; values F16 cannot hold are rounded.");
        }
    }

    private static List<GgmlType> Types(IEnumerable<GgufMatrixSource> sources) => sources.Select(m => m.Type).Distinct().Order().ToList();

    private static ModelWeights ReadWeights(GgufLlamaTensors tensors, ModelConfig c, MatrixBuilder builder, LoadOptions options, GgufFile file)
    {
        var built = new List<IDisposable>();
        try
        {
            var embedding = builder.BuildEdge(tensors.TokenEmbedding());
            built.Add(embedding);
            file.ReleaseTensorPages(tensors.TokenEmbedding().Name);
            var layers = ParallelLayers.Build(c.LayerCount, i => BuildLayer(tensors, c, builder, file, i), options);
            built.AddRange(layers);
            var norm = tensors.Vector("output_norm.weight", c.EmbeddingLength);
            WeightMatrix output = c.TiedEmbeddings ? embedding : builder.BuildEdge(tensors.Output());
            options.Log.Progress("Loading model", "done", 100);
            return new ModelWeights(embedding, layers, norm, output);
        }
        catch
        {
            foreach (var item in built) item.Dispose();
            throw;
        }
    }

    /// <summary>One layer's matrices, built from the file and its pages released from this process once they are copied.</summary>
    private static LayerWeights BuildLayer(GgufLlamaTensors tensors, ModelConfig c, MatrixBuilder builder, GgufFile file, int i)
    {
        var built = new List<WeightMatrix>();
        try
        {
            var qkv = builder.Build(tensors.Query(i), tensors.Key(i), tensors.Value(i));
            built.Add(qkv);
            var o = builder.Build(tensors.Matrix(i, "attn_output", c.EmbeddingLength, c.EmbeddingLength));
            built.Add(o);
            var gateUp = builder.Build(tensors.Matrix(i, "ffn_gate", c.FeedForwardLength, c.EmbeddingLength),
                tensors.Matrix(i, "ffn_up", c.FeedForwardLength, c.EmbeddingLength));
            built.Add(gateUp);
            var down = builder.Build(tensors.Matrix(i, "ffn_down", c.EmbeddingLength, c.FeedForwardLength));
            built.Add(down);
            var layer = new LayerWeights(tensors.Vector($"blk.{i}.attn_norm.weight", c.EmbeddingLength), qkv, o,
                tensors.Vector($"blk.{i}.ffn_norm.weight", c.EmbeddingLength), gateUp, down);
            foreach (string role in (string[])["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"])
                file.ReleaseTensorPages($"blk.{i}.{role}.weight");
            return layer;
        }
        catch
        {
            foreach (var matrix in built) matrix.Dispose();
            throw;
        }
    }
}
