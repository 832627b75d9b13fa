using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Engine.Formats.Llmc;

/// <summary>
/// The "q8_0" tensor kind of version 5: an output projection written as Q8_0 comes back bit for bit and mapped in
/// place, and files of version 4 (which have no such tensor) still load as they did.
/// </summary>
public sealed class LlmcQ8TensorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-llmc-q8-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Convert(OutputPrecision output, string name) =>
        Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, name), new Int4Format(128, false), ActivationMode.Int8, overwrite: false,
            evaluationText: null, outputProjection: output).Destination;

    [Fact]
    public void AnInt8OutputRoundTripsBitForBitAndIsMappedInPlace()
    {
        string file = Convert(OutputPrecision.Int8, "q8.llmc");
        Assert.Equal(LlmcLayout.Version, BitConverter.ToUInt32(File.ReadAllBytes(file), 8));
        using var fromFile = ModelLoader.Load(file);
        var output = Assert.IsType<Q8Matrix>(fromFile.Weights.Output);
        Assert.Equal(0, output.OwnedBytes);
        Assert.Equal(fromFile.WeightBytes, fromFile.MappedBytes);
        // The float output quantized here, row by row, is what the file holds.
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        var source = original.Weights.Output;
        using var expected = new Q8Matrix(source.Rows, source.Columns);
        var row = new float[source.Columns];
        var a = new float[source.Columns];
        var b = new float[source.Columns];
        for (int r = 0; r < source.Rows; r++)
        {
            source.DequantizeRow(r, row);
            expected.QuantizeRow(r, row);
            expected.DequantizeRow(r, a);
            output.DequantizeRow(r, b);
            Assert.Equal(a, b);
        }
        // Its size: 8.5 bits a weight (rows padded to tiles of eight).
        Assert.Equal(Q8Matrix.CodeBytesOf(source.Rows, source.Columns) + Q8Matrix.ScaleBytesOf(source.Rows, source.Columns), output.ByteSize);
    }

    [Fact]
    public void AVersion4FileStillLoadsAndANewerOneIsRefused()
    {
        string file = Convert(OutputPrecision.Int4, "int4.llmc");
        byte[] bytes = File.ReadAllBytes(file);
        string version4 = Path.Combine(_dir, "v4.llmc"), version6 = Path.Combine(_dir, "v6.llmc");
        BitConverter.TryWriteBytes(bytes.AsSpan(8), 4u);
        File.WriteAllBytes(version4, LlmcSeal.Header(bytes));
        BitConverter.TryWriteBytes(bytes.AsSpan(8), LlmcLayout.Version + 1);
        File.WriteAllBytes(version6, LlmcSeal.Header(bytes));

        using var current = ModelLoader.Load(file);
        using var old = ModelLoader.Load(version4);
        var options = new GenerationOptions { MaxTokens = 16, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        Assert.Equal(new TextGenerator(current).Generate("She was not", options).TokenIds, new TextGenerator(old).Generate("She was not", options).TokenIds);
        var e = Assert.Throws<ModelNotSupportedException>(() => ModelLoader.Load(version6).Dispose());
        Assert.Equal("version", e.Field);
    }

    [Fact]
    public void ANonFiniteOutputWeightIsANumericErrorAndNothingIsWritten()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Float32 });
        var output = Assert.IsType<LlmCpu.Kernels.MatMul.Float32Matrix>(model.Weights.Output);
        output.RowSpan(17)[100] = float.NaN;
        string destination = Path.Combine(_dir, "nan.llmc");
        var e = Assert.Throws<ModelNumericException>(() => Int4ModelConverter.Convert(model, destination, new Int4Format(128, false),
            new Int4ConversionOptions { OutputProjection = OutputPrecision.Int8 }));
        Assert.Contains("row 17", e.Message);
        Assert.False(File.Exists(destination));
    }
}
