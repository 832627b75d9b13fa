using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// A calibrated conversion from a path reads each layer's float weights from the mapped file when that layer is
/// quantized (<see cref="DeferredMatrix"/>), instead of loading the float model whole; the result is the one a
/// conversion of the model loaded whole gives.
/// </summary>
public sealed class Int4ModelConverterLayerByLayerTests : IDisposable
{
    private static readonly CalibrationText Calibration = CalibrationText.BuiltIn with { RequestedTokens = CalibrationText.MinimumTokens };

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-layer-by-layer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("f32", Int4Recipe.Gptq)]
    [InlineData("f32", Int4Recipe.Awq)]
    [InlineData("f16", Int4Recipe.Gptq)]
    [InlineData("gguf-f16", Int4Recipe.Gptq)]
    public void AConversionReadingLayerByLayerEqualsOneOfTheModelLoadedWhole(string source, Int4Recipe recipe)
    {
        string path = Source(source);
        var format = new Int4Format(32, false, recipe);
        var options = new Int4ConversionOptions { Calibration = Calibration };
        string streamed = Path.Combine(_dir, "streamed.llmc"), whole = Path.Combine(_dir, "whole.llmc");
        Int4ModelConverter.Convert(path, streamed, format, options);
        using (var loaded = ModelLoader.Load(path))
        {
            // Loaded whole, as stored: no matrix is left in the file.
            Assert.DoesNotContain(loaded.Weights.Layers.SelectMany(l => l.Matrices), m => m is DeferredMatrix);
            Int4ModelConverter.Convert(loaded, whole, format, options);
        }
        using var a = ModelLoader.Load(whole);
        using var b = ModelLoader.Load(streamed);
        var (wa, wb) = (a.Weights, b.Weights);
        AssertSameRows(wa.TokenEmbedding, wb.TokenEmbedding);
        AssertSameRows(wa.Output, wb.Output);
        Assert.Equal(wa.OutputNorm, wb.OutputNorm);
        for (int i = 0; i < wa.Layers.Count; i++)
        {
            foreach (var (x, y) in wa.Layers[i].Matrices.Zip(wb.Layers[i].Matrices)) AssertSameRows(x, y);
            Assert.Equal(wa.Layers[i].Vectors, wb.Layers[i].Vectors);
        }
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("gguf-f16")]
    public void ALoadThatLeavesFloatMatricesInTheFileReadsThemAsALoadAsStoredDoes(string source)
    {
        string path = Source(source);
        using var whole = ModelLoader.Load(path);
        using var skeleton = ModelLoader.Load(path, new LoadOptions { DeferFloatMatrices = true });
        var deferred = skeleton.Weights.Layers.SelectMany(l => l.Matrices).Append(skeleton.Weights.TokenEmbedding).Append(skeleton.Weights.Output).ToList();
        Assert.All(deferred, m => Assert.IsType<DeferredMatrix>(m));
        // Nothing but norms is held: the matrices are the file's pages.
        Assert.True(skeleton.ResidentBytes < whole.ResidentBytes / 50, $"{skeleton.ResidentBytes} of {whole.ResidentBytes} bytes held");
        var expected = whole.Weights.Layers.SelectMany(l => l.Matrices).Append(whole.Weights.TokenEmbedding).Append(whole.Weights.Output).ToList();
        foreach (var (e, d) in expected.Zip(deferred))
        {
            AssertSameRows(e, d);
            using var read = ((DeferredMatrix)d).Read();
            Assert.Equal(e.Format, read.Format);
            Assert.Equal(e.Format, d.Format);
            Assert.Equal(e.ByteSize, d.ByteSize);
            AssertSameRows(e, read);
            ((DeferredMatrix)d).Release();
        }
        // Rows read after the pages were let go come back from the file.
        AssertSameRows(expected[0], deferred[0]);
        // A model whose matrices are still in the file is not for running.
        using var session = new LlmCpu.Engine.Runtime.InferenceSession(skeleton, LlmCpu.Kernels.Threading.WorkerPool.Shared, 16);
        Assert.Throws<InvalidOperationException>(() => session.Prefill([1, 2, 3]));
    }

    private static void AssertSameRows(WeightMatrix expected, WeightMatrix actual)
    {
        Assert.Equal((expected.Rows, expected.Columns), (actual.Rows, actual.Columns));
        var e = new float[expected.Columns];
        var a = new float[actual.Columns];
        for (int r = 0; r < expected.Rows; r++)
        {
            expected.DequantizeRow(r, e);
            actual.DequantizeRow(r, a);
            Assert.True(e.AsSpan().SequenceEqual(a), $"row {r} of a {expected.Rows} x {expected.Columns} {expected.Format} matrix differs");
        }
    }

    /// <summary>The bundled model as stored (F16), as an F32 copy, or the tiny synthetic Llama as an F16 GGUF file.</summary>
    private string Source(string kind)
    {
        switch (kind)
        {
            case "f16":
                return RepoPaths.FixtureModel;
            case "gguf-f16":
                string gguf = Path.Combine(_dir, "tiny.gguf");
                File.WriteAllBytes(gguf, TinyModel.Gguf());
                return gguf;
            default:
                string folder = Path.Combine(_dir, "f32");
                Directory.CreateDirectory(folder);
                foreach (string file in new[] { "config.json", "tokenizer.model" }) File.Copy(Path.Combine(RepoPaths.FixtureModel, file), Path.Combine(folder, file));
                var builder = new SafeTensorsBuilder();
                using (var tensors = TensorCollection.OpenFolder(RepoPaths.FixtureModel))
                {
                    foreach (var (name, tensor) in tensors.Tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
                    {
                        var values = new float[tensor.ElementCount];
                        tensor.ReadAsFloat32(0, values);
                        var bytes = new byte[values.Length * sizeof(float)];
                        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
                        builder.Add(name, "F32", tensor.Shape.ToArray(), bytes);
                    }
                }
                File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), builder.ToBytes());
                return folder;
        }
    }
}
