using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Random-weight models of real shapes compute finite, varied logits through every layer. Their INT4 codes once had a
/// mean of -0.5 scale: activations overflowed within two layers and every logit of the 1.1B shape was NaN, so greedy
/// decoding returned token 0 and sampling EOS, and speed figures were measured on NaN.
/// </summary>
[Collection(SyntheticTinyLlamaCollection.Name)]
public sealed class SyntheticModelNumericsTests(SyntheticTinyLlama tinyLlama)
{
    private static readonly string[] Prompts = ["It is a truth universally acknowledged", "Mr. Darcy", "The evening passed"];

    [Fact]
    public void TheTinyLlamaShapedInt4ModelHasFiniteVariedLogits() => AssertFiniteAndVaried(tinyLlama.Model);

    [Theory]
    [InlineData("GgufQ4_0")]
    [InlineData("GgufF16")]
    public void TheGgufWritersGiveFiniteVariedLogits(string format)
    {
        // The full width of the 1.1B shape (the blow-up happens per layer), with fewer layers to keep the file small.
        var shape = SyntheticShape.TinyLlama1B with { LayerCount = 3 };
        string folder = Directory.CreateTempSubdirectory("llmcpu-synthetic-gguf-").FullName;
        try
        {
            string path = Path.Combine(folder, "model.gguf");
            byte[] tokenizer = File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model"));
            SyntheticGgufWriter.Write(shape, path, format == "GgufQ4_0" ? GgmlType.Q4_0 : GgmlType.F16, tokenizer, seed: 2, overwrite: false);
            using var model = ModelLoader.Load(path);
            AssertFiniteAndVaried(model);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void SyntheticInt4CodesAverageTheZeroPoint()
    {
        var matrix = (LlmCpu.Kernels.Quantization.Int4Matrix)tinyLlama.Model.Weights.Layers[0].GateUp;
        var row = new float[matrix.Columns];
        double sum = 0, sumSquares = 0;
        long count = 0;
        for (int r = 0; r < 256; r++)
        {
            matrix.DequantizeRow(r, row);
            foreach (float v in row) { sum += v; sumSquares += (double)v * v; count++; }
        }
        double mean = sum / count, deviation = Math.Sqrt(sumSquares / count - mean * mean);
        Assert.True(Math.Abs(mean) < 0.02 * deviation, $"mean weight {mean:E3} against a spread of {deviation:E3}");
        Assert.InRange(deviation, 0.01, 0.04);
    }

    private static void AssertFiniteAndVaried(LanguageModel model)
    {
        var all = new List<float[]>();
        foreach (string prompt in Prompts)
        {
            using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: 64);
            var logits = session.Prefill(model.Tokenizer.Encode(prompt, addBos: true)).ToArray();
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
            double mean = logits.Average(v => (double)v);
            double deviation = Math.Sqrt(logits.Average(v => (v - mean) * (v - mean)));
            Assert.True(deviation > 0.1, $"'{prompt}': logits spread only {deviation:E2}");
            all.Add(logits);
        }
        // Different prompts, different distributions: the output is not constant.
        Assert.True(all[0].Zip(all[1], (a, b) => Math.Abs(a - b)).Max() > 0.1, "two prompts gave the same logits");
        var greedy = new TextGenerator(model).Generate(Prompts[0], new GenerationOptions { MaxTokens = 8, Sampling = SamplingOptions.Greedy, StopAtEos = false });
        Assert.Equal(8, greedy.GeneratedTokens);
    }
}
