using LlmCpu.Engine;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>What the exporter describes and writes for the fixture model, and how it refuses or abandons a write.</summary>
public sealed class GgufModelExporterTests(FixtureModel fixture) : IClassFixture<FixtureModel>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmcpu-gguf-exporter-").FullName;

    private GgufWriter Describe(GgmlType type, bool quantizeEdges = false) =>
        GgufModelExporter.CreateWriter(fixture.Model, new GgufExportOptions { Type = type, QuantizeEmbeddingAndOutput = quantizeEdges });

    [Fact]
    public void MetadataCarriesLlamaHyperparametersAndTheVocabulary()
    {
        var metadata = Describe(GgmlType.Q4_0).Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        var config = fixture.Model.Config;
        void Is(string key, GgufValueType type, object value)
        {
            Assert.True(metadata.ContainsKey(key), $"{key} is missing");
            Assert.Equal(type, metadata[key].Type);
            Assert.Equal(value, metadata[key].Value);
        }
        Is("general.architecture", GgufValueType.String, "llama");
        Is("general.name", GgufValueType.String, "austen-llama");
        Is("general.file_type", GgufValueType.UInt32, 2u);
        Is("llama.context_length", GgufValueType.UInt32, (uint)config.ContextLength);
        Is("llama.embedding_length", GgufValueType.UInt32, 256u);
        Is("llama.block_count", GgufValueType.UInt32, 8u);
        Is("llama.feed_forward_length", GgufValueType.UInt32, 768u);
        Is("llama.rope.dimension_count", GgufValueType.UInt32, 32u);
        Is("llama.attention.head_count", GgufValueType.UInt32, 8u);
        Is("llama.attention.head_count_kv", GgufValueType.UInt32, 2u);
        Is("llama.attention.layer_norm_rms_epsilon", GgufValueType.Float32, 1e-5f);
        Is("llama.rope.freq_base", GgufValueType.Float32, 10000f);
        Is("llama.vocab_size", GgufValueType.UInt32, 4096u);
        Is("tokenizer.ggml.model", GgufValueType.String, "llama");
        Is("tokenizer.ggml.bos_token_id", GgufValueType.UInt32, 1u);
        Is("tokenizer.ggml.eos_token_id", GgufValueType.UInt32, 2u);
        Is("tokenizer.ggml.unknown_token_id", GgufValueType.UInt32, 0u);
        Is("tokenizer.ggml.add_bos_token", GgufValueType.Bool, true);
        Is("tokenizer.ggml.add_eos_token", GgufValueType.Bool, false);
        var tokens = (string[])metadata["tokenizer.ggml.tokens"].Value;
        var scores = (float[])metadata["tokenizer.ggml.scores"].Value;
        var types = (int[])metadata["tokenizer.ggml.token_type"].Value;
        Assert.Equal(4096, tokens.Length);
        Assert.Equal(4096, scores.Length);
        Assert.Equal(new[] { "<unk>", "<s>", "</s>", "<0x00>" }, tokens.Take(4));
        Assert.Equal(new[] { 2, 3, 3, 6 }, types.Take(4));
        Assert.Equal(-1f, scores[260]);
    }

    [Fact]
    public void TensorsHaveLlamaCppNamesShapesAndTypes()
    {
        var tensors = Describe(GgmlType.Q4_0).Tensors.ToDictionary(t => t.Name);
        Assert.Equal(2 + 8 * 9 + 1, tensors.Count);
        void Is(string name, GgmlType type, params long[] dimensions)
        {
            Assert.True(tensors.ContainsKey(name), $"{name} is missing");
            Assert.Equal(type, tensors[name].Type);
            Assert.Equal(dimensions, tensors[name].Dimensions);
        }
        Is("token_embd.weight", GgmlType.F16, 256, 4096);
        Is("output.weight", GgmlType.F16, 256, 4096);
        Is("output_norm.weight", GgmlType.F32, 256);
        Is("blk.7.attn_norm.weight", GgmlType.F32, 256);
        Is("blk.7.ffn_norm.weight", GgmlType.F32, 256);
        Is("blk.0.attn_q.weight", GgmlType.Q4_0, 256, 256);
        Is("blk.0.attn_k.weight", GgmlType.Q4_0, 256, 64);
        Is("blk.0.attn_v.weight", GgmlType.Q4_0, 256, 64);
        Is("blk.0.attn_output.weight", GgmlType.Q4_0, 256, 256);
        Is("blk.0.ffn_gate.weight", GgmlType.Q4_0, 256, 768);
        Is("blk.0.ffn_up.weight", GgmlType.Q4_0, 256, 768);
        Is("blk.0.ffn_down.weight", GgmlType.Q4_0, 768, 256);
        Assert.All(tensors.Values, t => Assert.Equal(0, t.Offset % GgufWriter.DefaultAlignment));

        var quantizedEdges = Describe(GgmlType.Q8_0, quantizeEdges: true).Tensors.ToDictionary(t => t.Name);
        Assert.Equal(GgmlType.Q8_0, quantizedEdges["token_embd.weight"].Type);
        Assert.Equal(GgmlType.Q8_0, quantizedEdges["output.weight"].Type);
        Assert.Equal(GgmlType.F32, quantizedEdges["output_norm.weight"].Type);
    }

    /// <summary>Rows of each split tensor come from the right rows of the engine's stacked matrices, Q and K reordered.</summary>
    [Fact]
    public void WrittenRowsAreTheEnginesRowsUnstackedAndReordered()
    {
        var writer = Describe(GgmlType.F32);
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        var bytes = stream.ToArray();
        var last = writer.Tensors[^1];
        long dataStart = bytes.Length - (last.Offset + (last.ByteSize + 31) / 32 * 32);
        var layer = fixture.Model.Weights.Layers[3];
        var config = fixture.Model.Config;
        int d = config.EmbeddingLength, kv = config.KvDim, f = config.FeedForwardLength;

        float[] FileRow(string name, int row)
        {
            var tensor = writer.Tensors.Single(t => t.Name == name);
            int columns = (int)tensor.Dimensions[0];
            var span = bytes.AsSpan((int)(dataStart + tensor.Offset + (long)row * columns * 4), columns * 4);
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).ToArray();
        }
        float[] EngineRow(WeightMatrix matrix, int row)
        {
            var values = new float[matrix.Columns];
            matrix.DequantizeRow(row, values);
            return values;
        }
        int headDim = config.HeadDim;
        // Row 1 of a head is its dimension headDim/2 in the engine (the second half's first), row 2 its dimension 1.
        Assert.Equal(EngineRow(layer.QueryKeyValue, headDim / 2), FileRow("blk.3.attn_q.weight", 1));
        Assert.Equal(EngineRow(layer.QueryKeyValue, 1), FileRow("blk.3.attn_q.weight", 2));
        Assert.Equal(EngineRow(layer.QueryKeyValue, headDim + headDim / 2 + 3), FileRow("blk.3.attn_q.weight", headDim + 7));
        Assert.Equal(EngineRow(layer.QueryKeyValue, d + headDim / 2), FileRow("blk.3.attn_k.weight", 1));
        Assert.Equal(EngineRow(layer.QueryKeyValue, d + kv + 1), FileRow("blk.3.attn_v.weight", 1));
        Assert.Equal(EngineRow(layer.GateUp, 5), FileRow("blk.3.ffn_gate.weight", 5));
        Assert.Equal(EngineRow(layer.GateUp, f + 5), FileRow("blk.3.ffn_up.weight", 5));
        Assert.Equal(EngineRow(layer.Down, 9), FileRow("blk.3.ffn_down.weight", 9));
        Assert.Equal(layer.AttentionNorm, FileRow("blk.3.attn_norm.weight", 0));
        Assert.Equal(EngineRow(fixture.Model.Weights.Output, 4095), FileRow("output.weight", 4095));
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.BF16)]
    [InlineData((GgmlType)77)]
    public void AnUnsupportedTypeIsRefusedBeforeAnythingIsWritten(GgmlType type)
    {
        string path = Path.Combine(_folder, "model.gguf");
        Assert.Throws<ArgumentOutOfRangeException>(() => GgufModelExporter.Export(fixture.Model, path, new GgufExportOptions { Type = type }));
        Assert.Empty(Directory.GetFileSystemEntries(_folder));
    }

    [Fact]
    public void AnExistingFileIsKeptWithoutOverwrite()
    {
        string path = Path.Combine(_folder, "model.gguf");
        File.WriteAllText(path, "keep me");
        Assert.Throws<OutputFileExistsException>(() => GgufModelExporter.Export(fixture.Model, path, new GgufExportOptions { Type = GgmlType.Q8_0 }));
        Assert.Equal("keep me", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));
    }

    [Fact]
    public void CancellationMidExportLeavesNoFile()
    {
        string path = Path.Combine(_folder, "model.gguf");
        using var cancellation = new CancellationTokenSource();
        var log = new CancelAt("blk.2.attn_k.weight", cancellation);
        var options = new GgufExportOptions { Type = GgmlType.Q4_0, Log = log, Cancellation = cancellation.Token };
        Assert.ThrowsAny<OperationCanceledException>(() => GgufModelExporter.Export(fixture.Model, path, options));
        Assert.True(log.Reached, "the export was cancelled before it reached the tensor");
        Assert.Empty(Directory.GetFileSystemEntries(_folder));
    }

    [Fact]
    public void ExportWritesExactlyTheDescribedFile()
    {
        string path = Path.Combine(_folder, "model.gguf");
        GgufModelExporter.Export(fixture.Model, path, new GgufExportOptions { Type = GgmlType.Q8_0 });
        Assert.Equal(Describe(GgmlType.Q8_0).FileSize, new FileInfo(path).Length);
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));
    }

    /// <summary>Cancels, as Ctrl+C would, when the export reports that it starts a given tensor.</summary>
    private sealed class CancelAt(string tensor, CancellationTokenSource cancellation) : IEngineLog
    {
        public bool Reached { get; private set; }

        public void Verbose(string message) { }

        public void Warning(string message) { }

        public void Progress(string activity, string status, int percentComplete)
        {
            if (status != tensor) return;
            Reached = true;
            cancellation.Cancel();
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
