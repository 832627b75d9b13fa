using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Every ggml type the engine reads, loaded through the model loader (not only the dequantizer): each layer matrix
/// holds exactly what <see cref="GgmlDequantizer"/> decodes from the file's blocks, stacked and with Q and K rows back
/// in rotate-half order, and the model computes finite logits.
/// </summary>
public sealed class GgufQuantTypesLoadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-quanttypes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(GgmlType.BF16, "F32")]
    [InlineData(GgmlType.Q4_1, "Q4_1")]
    [InlineData(GgmlType.Q5_0, "Q5_0")]
    [InlineData(GgmlType.Q5_1, "Q5_1")]
    [InlineData(GgmlType.Q8_0, "Q8_0")]
    [InlineData(GgmlType.Q4_K, "Q4_K")]
    [InlineData(GgmlType.Q5_K, "Q5_K")]
    [InlineData(GgmlType.Q6_K, "Q6_K")]
    [InlineData(GgmlType.Q4_0, "Q4 g32 sym")]
    public void LayerMatricesHoldExactlyTheDecodedBlocks(GgmlType type, string precision)
    {
        const int width = 256;
        string path = TinyLlamaGguf.Create(type, width: width).Write(Path.Combine(_dir, $"{type}.gguf"));
        using var model = ModelLoader.Load(path);
        Assert.Equal(precision, model.Precision);
        Assert.Contains(type.ToString(), model.StoredPrecision.Split('/'));

        using var file = GgufFile.Open(path);
        int headDim = width / TinyLlamaGguf.Heads;
        for (int layer = 0; layer < TinyLlamaGguf.Layers; layer++)
        {
            var down = model.Weights.Layers[layer].Down;
            AssertRowsDecodeTo(down, 0, file, $"blk.{layer}.ffn_down.weight", permuteHeadDim: 0);
            var qkv = model.Weights.Layers[layer].QueryKeyValue;
            AssertRowsDecodeTo(qkv, 0, file, $"blk.{layer}.attn_q.weight", headDim);
            AssertRowsDecodeTo(qkv, width, file, $"blk.{layer}.attn_k.weight", headDim);
        }

        using var session = new InferenceSession(model, WorkerPool.Shared, 16);
        GreedyAgreement.AssertFinite(session.Prefill(model.Tokenizer.Encode("ab", addBos: true)));
    }

    [Fact]
    public void MixedCompactTypesInOneStackAreEachKeptAsStored()
    {
        // A Q4_K_M file keeps some layers' values in another type than their queries and keys.
        const int width = 256;
        var overrides = new Dictionary<string, GgmlType> { ["blk.0.attn_v.weight"] = GgmlType.Q6_K, ["blk.1.ffn_up.weight"] = GgmlType.Q4_0 };
        string path = TinyLlamaGguf.Create(GgmlType.Q4_K, overrides: overrides, width: width).Write(Path.Combine(_dir, "mixed.gguf"));
        using var model = ModelLoader.Load(path);
        var qkv = Assert.IsType<StackedMatrix>(model.Weights.Layers[0].QueryKeyValue);
        Assert.Equal(["Q4_K", "Q4_K", "Q6_K"], qkv.Parts.Select(p => p.Format));
        Assert.IsType<StackedMatrix>(model.Weights.Layers[1].GateUp);
        Assert.IsType<LlmCpu.Kernels.Quantization.Q4KMatrix>(model.Weights.Layers[1].QueryKeyValue);
        using var file = GgufFile.Open(path);
        int kvDim = width / TinyLlamaGguf.Heads * TinyLlamaGguf.KvHeads;
        AssertRowsDecodeTo(qkv, width + kvDim, file, "blk.0.attn_v.weight", permuteHeadDim: 0);
        AssertRowsDecodeTo(qkv, 0, file, "blk.0.attn_q.weight", width / TinyLlamaGguf.Heads);
        using var session = new InferenceSession(model, WorkerPool.Shared, 16);
        GreedyAgreement.AssertFinite(session.Prefill(model.Tokenizer.Encode("ab", addBos: true)));
    }

    /// <summary>Rows [first, first + tensor rows) of <paramref name="matrix"/> equal the tensor's decoded rows.</summary>
    private static void AssertRowsDecodeTo(WeightMatrix matrix, int first, GgufFile file, string name, int permuteHeadDim)
    {
        var tensor = file.Tensors[name];
        int columns = (int)tensor.Columns, rows = (int)tensor.Rows;
        var expected = new float[columns];
        var actual = new float[columns];
        for (int fileRow = 0; fileRow < rows; fileRow++)
        {
            GgmlDequantizer.Dequantize(tensor.Type, tensor.Row(fileRow), expected);
            int engineRow = permuteHeadDim > 0 ? RotateHalfRow(fileRow, permuteHeadDim) : fileRow;
            matrix.DequantizeRow(first + engineRow, actual);
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>The engine row that GGUF row h*d + 2i + s of Q or K becomes: h*d + s*d/2 + i.</summary>
    private static int RotateHalfRow(int ggufRow, int headDim)
    {
        int head = ggufRow / headDim, within = ggufRow % headDim;
        return head * headDim + within % 2 * (headDim / 2) + within / 2;
    }
}
