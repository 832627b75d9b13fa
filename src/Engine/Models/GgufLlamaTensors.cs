using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Engine.Models;

/// <summary>
/// The tensors of a Llama GGUF file by role, each checked for presence and shape (ggml lists dimensions innermost
/// first, so a matrix of N rows by K columns is [K, N]). Q and K come back in rotate-half row order.
/// </summary>
internal sealed class GgufLlamaTensors(GgufFile file, ModelConfig config)
{
    private readonly int _d = config.EmbeddingLength;
    private readonly int _kv = config.KvDim;
    private readonly int _ffn = config.FeedForwardLength;
    private readonly int _vocab = config.VocabularySize;

    public string Path => file.Path;

    public GgufMatrixSource TokenEmbedding() => Require("token_embd.weight", _vocab, _d);

    public GgufMatrixSource Output() => Require("output.weight", _vocab, _d);

    public IMatrixSource Query(int layer) => new RotateHalfRows(Matrix(layer, "attn_q", _d, _d), config.HeadDim);

    public IMatrixSource Key(int layer) => new RotateHalfRows(Matrix(layer, "attn_k", _kv, _d), config.HeadDim);

    public GgufMatrixSource Value(int layer) => Matrix(layer, "attn_v", _kv, _d);

    public GgufMatrixSource Matrix(int layer, string role, int rows, int columns) => Require($"blk.{layer}.{role}.weight", rows, columns);

    /// <summary>Every matrix the model needs, so that a missing tensor or an unreadable type is found before anything is built.</summary>
    public IEnumerable<GgufMatrixSource> Matrices() => Edges().Concat(LayerMatrices());

    /// <summary>The token embedding and, unless tied to it, the output projection.</summary>
    public IEnumerable<GgufMatrixSource> Edges()
    {
        yield return TokenEmbedding();
        if (!config.TiedEmbeddings) yield return Output();
    }

    /// <summary>The matrices each layer stacks into one: Q, K, V and gate, up.</summary>
    public IEnumerable<GgufMatrixSource[]> Stacks()
    {
        for (int i = 0; i < config.LayerCount; i++)
        {
            yield return [Matrix(i, "attn_q", _d, _d), Matrix(i, "attn_k", _kv, _d), Value(i)];
            yield return [Matrix(i, "ffn_gate", _ffn, _d), Matrix(i, "ffn_up", _ffn, _d)];
        }
    }

    /// <summary>The matrices of every layer; the norms are checked for presence and shape on the way.</summary>
    public IEnumerable<GgufMatrixSource> LayerMatrices()
    {
        for (int i = 0; i < config.LayerCount; i++)
        {
            yield return Matrix(i, "attn_q", _d, _d);
            yield return Matrix(i, "attn_k", _kv, _d);
            yield return Value(i);
            yield return Matrix(i, "attn_output", _d, _d);
            yield return Matrix(i, "ffn_gate", _ffn, _d);
            yield return Matrix(i, "ffn_up", _ffn, _d);
            yield return Matrix(i, "ffn_down", _d, _ffn);
            Tensor($"blk.{i}.attn_norm.weight", _d);
            Tensor($"blk.{i}.ffn_norm.weight", _d);
        }
        Tensor("output_norm.weight", _d);
    }

    /// <summary>A one-dimensional tensor (a norm's weights) as FP32.</summary>
    public float[] Vector(string name, int length)
    {
        var tensor = Tensor(name, length);
        if (!tensor.Type.CanDequantize())
            throw new ModelNotSupportedException(Path, $"tensor '{name}' type", $"ggml type {tensor.Type} ({(uint)tensor.Type}) is not supported for a norm");
        var result = new float[length];
        GgmlDequantizer.Dequantize(tensor.Type, tensor.Row(0), result);
        return result;
    }

    private GgufTensorInfo Tensor(string name, params long[] shape)
    {
        if (!file.Tensors.TryGetValue(name, out var tensor)) throw new ModelFormatException(Path, $"tensor '{name}'", "is missing");
        // Trailing dimensions of 1 change nothing.
        var dims = tensor.Dimensions.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        var expected = shape.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        if (!dims.SequenceEqual(expected))
            throw new ModelFormatException(Path, $"tensor '{name}' dimensions", $"are [{string.Join(", ", tensor.Dimensions)}], expected [{string.Join(", ", shape)}] (ne[0], the row length, first)");
        return tensor;
    }

    private GgufMatrixSource Require(string name, int rows, int columns) => new(Tensor(name, columns, rows));
}
