using LlmCpu.Engine;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>The fixture model written as GGUF files (F16, and Q4_0 layers with a Q8_0 output), once for the class.</summary>
public sealed class FixtureGgufFiles : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-ggufmodel-").FullName;

    public FixtureGgufFiles()
    {
        Float16Path = FixtureGguf.Create().Write(Path.Combine(_dir, "austen-f16.gguf"));
        Q4_0Path = FixtureGguf.Create(GgmlType.Q4_0, GgmlType.Q8_0).Write(Path.Combine(_dir, "austen-q4_0.gguf"));
        Tensors = SafeTensorsFile.Open(Path.Combine(RepoPaths.FixtureModel, "model.safetensors"));
    }

    public string Float16Path { get; }

    public string Q4_0Path { get; }

    /// <summary>The Hugging Face tensors the GGUF files were made from.</summary>
    public SafeTensorsFile Tensors { get; }

    public FixtureReference Reference { get; } = FixtureReference.Load();

    public void Dispose()
    {
        Tensors.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class GgufModelLoaderTests(FixtureGgufFiles files) : IClassFixture<FixtureGgufFiles>
{
    private static List<int> Greedy(LanguageModel model, int[] prompt, int count)
    {
        using var session = new InferenceSession(model, WorkerPool.Shared);
        var sampler = new Sampler(SamplingOptions.Greedy, model.VocabularySize);
        var logits = session.Prefill(prompt);
        var tokens = new List<int>();
        while (tokens.Count < count)
        {
            int next = sampler.Sample(logits);
            tokens.Add(next);
            logits = session.Decode(next);
        }
        return tokens;
    }

    private static float[] Row(WeightMatrix matrix, int row)
    {
        var values = new float[matrix.Columns];
        matrix.DequantizeRow(row, values);
        return values;
    }

    [Fact]
    public void FloatGgufGivesTheReferenceTokenizationAndGreedyTokens()
    {
        using var model = ModelLoader.Load(files.Float16Path);
        Assert.Equal("austen-f16", model.Name);
        Assert.Equal("llama", model.Architecture);
        Assert.Equal("F16", model.Precision);
        Assert.Equal("F16/F32", model.StoredPrecision);
        Assert.Equal(new FileInfo(files.Float16Path).Length, model.FileSizeBytes);
        Assert.False(model.Config.TiedEmbeddings);
        Assert.True(model.LoadTime > TimeSpan.Zero);
        foreach (var prompt in files.Reference.Prompts)
        {
            Assert.Equal(prompt.Ids, model.Tokenizer.Encode(prompt.Text, addBos: true));
            Assert.Equal(prompt.Greedy, Greedy(model, prompt.Ids, prompt.Greedy.Length));
        }
    }

    [Fact]
    public void QueryAndKeyRowsAreBackInRotateHalfOrder()
    {
        using var gguf = ModelLoader.Load(files.Float16Path);
        using var hf = ModelLoader.Load(RepoPaths.FixtureModel);
        Assert.Equal(hf.Config with { EosTokenIds = [] }, gguf.Config with { EosTokenIds = [] });
        Assert.Equal(hf.Config.EosTokenIds, gguf.Config.EosTokenIds);
        for (int layer = 0; layer < hf.LayerCount; layer++)
        {
            var expected = hf.Weights.Layers[layer].QueryKeyValue;
            var actual = gguf.Weights.Layers[layer].QueryKeyValue;
            Assert.Equal(expected.Rows, actual.Rows);
            for (int r = 0; r < expected.Rows; r++) Assert.Equal(Row(expected, r), Row(actual, r));
        }
    }

    [Fact]
    public void Q4_0LayersAndTheQ8_0OutputRepackExactly()
    {
        var log = new RecordingLog();
        using var model = ModelLoader.Load(files.Q4_0Path, new LoadOptions { Log = log });
        Assert.Equal("Q4 g32 sym", model.Precision);
        Assert.Equal("F32/Q4_0/Q8_0", model.StoredPrecision);
        Assert.DoesNotContain(log.VerboseLines, l => l.Contains("converted exactly to F32"));
        Assert.Empty(log.Warnings);

        var c = model.Config;
        var t = files.Tensors.Tensors;
        for (int layer = 0; layer < c.LayerCount; layer++)
        {
            string p = $"model.layers.{layer}.";
            var weights = model.Weights.Layers[layer];
            AssertQ4_0Exact(weights.QueryKeyValue, t[p + "self_attn.q_proj.weight"], t[p + "self_attn.k_proj.weight"], t[p + "self_attn.v_proj.weight"]);
            AssertQ4_0Exact(weights.AttentionOutput, t[p + "self_attn.o_proj.weight"]);
            AssertQ4_0Exact(weights.GateUp, t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"]);
            AssertQ4_0Exact(weights.Down, t[p + "mlp.down_proj.weight"]);
        }
        AssertQ4_0Exact(model.Weights.TokenEmbedding, t["model.embed_tokens.weight"]);

        var output = Assert.IsType<LlmCpu.Kernels.Quantization.Q8Matrix>(model.Weights.Output);
        var head = t["lm_head.weight"];
        var dequantized = new float[output.Columns];
        for (int r = 0; r < output.Rows; r += 97)
        {
            GgmlDequantizer.Dequantize(GgmlType.Q8_0, GgmlReferenceQuantizer.QuantizeQ8_0(FixtureGguf.Row(head, r)), dequantized);
            Assert.Equal(dequantized, Row(output, r));
        }

        // Q4_0 layers and a Q8_0 output stay close to the F16 original: the same clear choices.
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        foreach (var prompt in files.Reference.Prompts) GreedyAgreement.AssertAgrees(original, model, prompt.Ids, 24);
    }

    /// <summary>Every row equals the Q4_0 values of the Hugging Face row it came from: permutation and repacking compose.</summary>
    private static void AssertQ4_0Exact(WeightMatrix matrix, params TensorData[] parts)
    {
        var int4 = Assert.IsType<Int4Matrix>(matrix);
        Assert.Equal(new Int4Format(32, false), int4.Int4Format);
        int row = 0;
        foreach (var part in parts)
        {
            int rows = (int)part.Shape[0];
            for (int r = 0; r < rows; r++, row++)
            {
                var hfRow = FixtureGguf.Row(part, r);
                var expected = GgmlReferenceQuantizer.ExpectedQ4_0(GgmlReferenceQuantizer.QuantizeQ4_0(hfRow), hfRow.Length);
                Assert.Equal(expected, Row(int4, row));
            }
        }
        Assert.Equal(matrix.Rows, row);
    }

    [Fact]
    public void Int4G32SymmetricOnQ4_0IsTheSameExactCopy()
    {
        var log = new RecordingLog();
        using var asStored = ModelLoader.Load(files.Q4_0Path);
        using var int4 = ModelLoader.Load(files.Q4_0Path, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(32, false), Log = log });
        Assert.Empty(log.Warnings);
        var a = asStored.Weights.Layers[3].GateUp;
        var b = Assert.IsType<Int4Matrix>(int4.Weights.Layers[3].GateUp);
        for (int r = 0; r < a.Rows; r += 7) Assert.Equal(Row(a, r), Row(b, r));
        Assert.IsType<Int4Matrix>(int4.Weights.TokenEmbedding);
    }

    [Fact]
    public void AnotherInt4FormatOnQ4_0QuantizesAgainWithAWarning()
    {
        var log = new RecordingLog();
        using var model = ModelLoader.Load(files.Q4_0Path, new LoadOptions { Precision = ModelPrecision.Int4, Log = log });
        Assert.Equal("Q4 g128 sym", model.Precision);
        var warning = Assert.Single(log.Warnings);
        Assert.Contains("Q4_0", warning);
        Assert.Contains("quantized again", warning);
    }

    [Fact]
    public void Int4OnAFloatGgufQuantizesAsTheHuggingFacePathDoes()
    {
        var options = new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(64, true) };
        using var gguf = ModelLoader.Load(files.Float16Path, options);
        using var hf = ModelLoader.Load(RepoPaths.FixtureModel, options);
        Assert.Equal(hf.Precision, gguf.Precision);
        for (int layer = 0; layer < hf.LayerCount; layer += 3)
        {
            var expected = hf.Weights.Layers[layer].QueryKeyValue;
            var actual = Assert.IsType<Int4Matrix>(gguf.Weights.Layers[layer].QueryKeyValue);
            for (int r = 0; r < expected.Rows; r++) Assert.Equal(Row(expected, r), Row(actual, r));
        }
        Assert.IsType<Float16Matrix>(gguf.Weights.Output);
    }
}
