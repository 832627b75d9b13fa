using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Reads a model's weights by role from a file's tensors, through the family's <see cref="TensorNameTable"/>: which
/// tensors exist follows the <see cref="ModelConfig"/> (biases, the second norm, the gate, the output), and rows are put
/// in the engine's order (Q, K, V stacked; Llama GGUF rows back to rotate-half). One reader serves every family and
/// every file format that names tensors (GGUF, Hugging Face).
/// </summary>
internal sealed class ModelTensorReader(IModelTensors file, TensorNameTable names, ModelConfig config)
{
    private readonly int _d = config.EmbeddingLength;
    private readonly int _kv = config.KvDim;
    private readonly int _ffn = config.FeedForwardLength;

    public string Path => file.Path;

    public IMatrixSource TokenEmbedding() => file.Matrix(TensorNameTable.Weight(names.TokenEmbedding), config.VocabularySize, _d);

    /// <summary>Whether the file has an output projection of its own (a tied model may still carry one).</summary>
    public bool HasOutput => file.Contains(TensorNameTable.Weight(names.Output));

    public IMatrixSource Output() => file.Matrix(TensorNameTable.Weight(names.Output), config.VocabularySize, _d);

    /// <summary>The parts stacked into the QKV matrix: Q, K, V, or one fused tensor; rows in the engine's order.</summary>
    public IMatrixSource[] QueryKeyValue(int layer)
    {
        if (names.QueryKeyValue is { } fused)
        {
            var source = file.Matrix(TensorNameTable.Weight(fused, layer), _d + 2 * _kv, _d);
            return [Fused(source)];
        }
        var q = file.Matrix(TensorNameTable.Weight(names.Query!, layer), _d, _d);
        var k = file.Matrix(TensorNameTable.Weight(names.Key!, layer), _kv, _d);
        var v = file.Matrix(TensorNameTable.Weight(names.Value!, layer), _kv, _d);
        if (!names.QueryKeyRowsInterleaved) return [q, k, v];
        int hd = config.HeadDim;
        return [new ReorderedRows(q, r => QkvRowOrder.InterleavedRow(r, hd)), new ReorderedRows(k, r => QkvRowOrder.InterleavedRow(r, hd)), v];
    }

    public float[]? QueryKeyValueBias(int layer)
    {
        if (!config.AttentionBias) return null;
        if (names.QueryKeyValue is { } fused)
            return ReorderedRows.Reorder(file.Vector(TensorNameTable.Bias(fused, layer), _d + 2 * _kv), FusedRowOrder);
        float[] q = file.Vector(TensorNameTable.Bias(names.Query!, layer), _d);
        float[] k = file.Vector(TensorNameTable.Bias(names.Key!, layer), _kv);
        float[] v = file.Vector(TensorNameTable.Bias(names.Value!, layer), _kv);
        if (names.QueryKeyRowsInterleaved)
        {
            int hd = config.HeadDim;
            q = ReorderedRows.Reorder(q, r => QkvRowOrder.InterleavedRow(r, hd));
            k = ReorderedRows.Reorder(k, r => QkvRowOrder.InterleavedRow(r, hd));
        }
        return [.. q, .. k, .. v];
    }

    public IMatrixSource AttentionOutput(int layer) => file.Matrix(TensorNameTable.Weight(names.AttentionOutput, layer), _d, _d);

    public float[]? AttentionOutputBias(int layer) =>
        config.AttentionOutputBias ? file.Vector(TensorNameTable.Bias(names.AttentionOutput, layer), _d) : null;

    /// <summary>Gate then up when gated, up alone when not.</summary>
    public IMatrixSource[] GateUp(int layer)
    {
        var up = file.Matrix(TensorNameTable.Weight(names.Up, layer), _ffn, _d);
        return config.FeedForwardGated ? [file.Matrix(TensorNameTable.Weight(Require(names.Gate, "gate"), layer), _ffn, _d), up] : [up];
    }

    public float[]? GateUpBias(int layer)
    {
        if (!config.FeedForwardBias) return null;
        float[] up = file.Vector(TensorNameTable.Bias(names.Up, layer), _ffn);
        return config.FeedForwardGated ? [.. file.Vector(TensorNameTable.Bias(Require(names.Gate, "gate"), layer), _ffn), .. up] : up;
    }

    public IMatrixSource Down(int layer) => file.Matrix(TensorNameTable.Weight(names.Down, layer), _d, _ffn);

    public float[]? DownBias(int layer) => config.FeedForwardBias ? file.Vector(TensorNameTable.Bias(names.Down, layer), _d) : null;

    /// <summary>A norm's weight, and its bias when the family's norms have one.</summary>
    public (float[] Weight, float[]? Bias) Norm(string pattern, int layer = 0) =>
        (file.Vector(TensorNameTable.Weight(pattern, layer), _d), config.NormBias ? file.Vector(TensorNameTable.Bias(pattern, layer), _d) : null);

    /// <summary>Every matrix the model needs, so that a missing tensor or an unreadable type is found before anything is built.</summary>
    public IEnumerable<IMatrixSource> Matrices() => Edges().Concat(Stacks().SelectMany(s => s)).Concat(Enumerable.Range(0, config.LayerCount).SelectMany(i => (IMatrixSource[])[AttentionOutput(i), Down(i)]));

    /// <summary>The token embedding and, unless tied to it, the output projection.</summary>
    public IEnumerable<IMatrixSource> Edges()
    {
        yield return TokenEmbedding();
        if (!config.TiedEmbeddings) yield return Output();
    }

    /// <summary>The matrices each layer stacks into one: Q, K, V and gate, up.</summary>
    public IEnumerable<IMatrixSource[]> Stacks()
    {
        for (int i = 0; i < config.LayerCount; i++)
        {
            yield return QueryKeyValue(i);
            yield return GateUp(i);
        }
    }

    /// <summary>
    /// One layer's weights, its file pages released once copied; with <paramref name="deferFloat"/>, float matrices are
    /// left in the file (<see cref="DeferredMatrix"/>) to be read when the layer's turn comes.
    /// </summary>
    public LayerWeights Layer(int i, MatrixBuilder builder, bool deferFloat = false)
    {
        var built = new List<WeightMatrix>();
        WeightMatrix Build(params IMatrixSource[] parts)
        {
            if (deferFloat && DeferredMatrix.CanDefer(parts)) return new DeferredMatrix(parts, file);
            var matrix = builder.Build(parts);
            built.Add(matrix);
            foreach (var part in parts) file.Release(part.Name);
            return matrix;
        }
        try
        {
            var attentionNorm = Norm(names.AttentionNorm, i);
            var feedForwardNorm = config.Residual == ResidualLayout.ParallelSharedNorm
                ? (Weight: null, Bias: null)
                : Norm(Require(names.FeedForwardNorm, "feed-forward norm"), i);
            return new LayerWeights
            {
                AttentionNorm = attentionNorm.Weight, AttentionNormBias = attentionNorm.Bias,
                QueryKeyValue = Build(QueryKeyValue(i)), QueryKeyValueBias = QueryKeyValueBias(i),
                AttentionOutput = Build(AttentionOutput(i)), AttentionOutputBias = AttentionOutputBias(i),
                FeedForwardNorm = feedForwardNorm.Weight, FeedForwardNormBias = feedForwardNorm.Bias,
                GateUp = Build(GateUp(i)), GateUpBias = GateUpBias(i),
                Down = Build(Down(i)), DownBias = DownBias(i),
            };
        }
        catch
        {
            foreach (var matrix in built) matrix.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The whole model: embedding, layers (on every core), output norm and projection. With
    /// <see cref="LoadOptions.DeferFloatMatrices"/>, float matrices are left in the file, which must then stay open.
    /// </summary>
    public ModelWeights Read(MatrixBuilder builder, LoadOptions options)
    {
        bool defer = options.DeferFloatMatrices;
        WeightMatrix Edge(IMatrixSource source)
        {
            if (defer && DeferredMatrix.CanDefer([source])) return new DeferredMatrix([source], file);
            var matrix = builder.BuildEdge(source);
            file.Release(source.Name);
            return matrix;
        }
        var built = new List<IDisposable>();
        try
        {
            var embedding = Edge(TokenEmbedding());
            built.Add(embedding);
            var layers = ParallelLayers.Build(config.LayerCount, i => Layer(i, builder, defer), options);
            built.AddRange(layers);
            var norm = Norm(names.OutputNorm);
            WeightMatrix output = config.TiedEmbeddings && !HasOutput ? embedding : Edge(Output());
            float[]? outputBias = config.OutputBias ? file.Vector(TensorNameTable.Bias(names.Output), config.VocabularySize) : null;
            options.Log.Progress("Loading model", "done", 100);
            return new ModelWeights(embedding, layers, norm.Weight, output, norm.Bias, outputBias);
        }
        catch
        {
            foreach (var item in built) item.Dispose();
            throw;
        }
    }

    private IMatrixSource Fused(IMatrixSource source) =>
        names.FusedLayout == FusedQkvLayout.Stacked ? source : new ReorderedRows(source, FusedRowOrder);

    private int FusedRowOrder(int row) => QkvRowOrder.FusedRow(names.FusedLayout, row, config.HeadCount, config.KvHeadCount, config.HeadDim);

    private string Require(string? pattern, string role) =>
        pattern ?? throw new ModelNotSupportedException(Path, role, $"the {config.Architecture} architecture has no {role} in this format");
}
