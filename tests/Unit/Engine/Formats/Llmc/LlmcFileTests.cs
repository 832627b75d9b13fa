using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats.Llmc;

/// <summary>The INT4 model file: a round trip keeps every bit of the weights, and damage of any kind is refused by name.</summary>
public sealed class LlmcFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-llmc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Convert(Int4Format format, string name = "model.llmc", string? evaluation = null) =>
        Int4ModelConverter.Convert(RepoPaths.FixtureModel, Path.Combine(_dir, name), format, ActivationMode.Int8, overwrite: false, evaluation).Destination;

    [Theory]
    [InlineData(128, false)]
    [InlineData(32, true)]
    [InlineData(-1, false)]
    public void RoundTripGivesTheSameTokensAsQuantizingAtLoad(int groupSize, bool asymmetric)
    {
        var format = new Int4Format(groupSize, asymmetric);
        string file = Convert(format);
        using var fromFile = ModelLoader.Load(file);
        using var atLoad = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = format });
        Assert.Equal(format.ToString(), fromFile.Precision);
        Assert.Equal(format.ToString(), fromFile.Quantization!.Format);
        var options = new GenerationOptions { MaxTokens = 24, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        Assert.Equal(new TextGenerator(atLoad).Generate("She was not", options).TokenIds, new TextGenerator(fromFile).Generate("She was not", options).TokenIds);
        // The mapped file is smaller than the F16 source: 4-bit layers, F16 edges.
        Assert.True(fromFile.FileSizeBytes < atLoad.FileSizeBytes, $"{fromFile.FileSizeBytes} >= {atLoad.FileSizeBytes}");
        // Its weights are used in place: only the norms are copied into the process.
        Assert.Equal(fromFile.WeightBytes, fromFile.MappedBytes);
        Assert.Equal((2L * fromFile.LayerCount + 1) * fromFile.Config.EmbeddingLength * sizeof(float), fromFile.ResidentBytes);
        Assert.Equal(0, atLoad.MappedBytes);
        Assert.True(atLoad.ResidentBytes >= atLoad.WeightBytes);
    }

    [Fact]
    public void AFileReadIntoMemoryGivesTheSameTokensAndCountsItsWeightsAsResident()
    {
        string file = Convert(new Int4Format(32, true));
        using var mapped = ModelLoader.Load(file);
        using var read = ModelLoader.Load(file, new LoadOptions { MemoryMap = false });
        Assert.True(mapped.IsMemoryMapped);
        Assert.False(read.IsMemoryMapped);
        var options = new GenerationOptions { MaxTokens = 24, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        Assert.Equal(new TextGenerator(mapped).Generate("She was not", options).TokenIds, new TextGenerator(read).Generate("She was not", options).TokenIds);
        Assert.Equal(0, read.MappedBytes);
        Assert.Equal(mapped.ResidentBytes + mapped.MappedBytes, read.ResidentBytes);
        Assert.Equal(mapped.WeightBytes, read.WeightBytes);
    }

    [Fact]
    public void TheReportCarriesMeasuredAccuracy()
    {
        const string text = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.";
        string file = Convert(new Int4Format(32, false), evaluation: text);
        using var model = ModelLoader.Load(file);
        var accuracy = model.Quantization!.Accuracy!;
        // The float perplexity is the fixture's own on the same tokens, computed here independently. A text shorter than
        // the context is one window as long as the text; its second half is scored (positions n/2 .. n-2).
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        var ids = original.Tokenizer.Encode(text, addBos: true);
        int n = ids.Length, first = n / 2;
        Assert.Equal((1, n, n - 1 - first), (accuracy.Windows, accuracy.ContextLength, accuracy.Tokens));
        using var session = new InferenceSession(original, LlmCpu.Kernels.Threading.WorkerPool.Shared);
        double nll = 0;
        for (int i = 0; i + 1 < n; i++)
        {
            var logits = session.Decode(ids[i]);
            if (i < first) continue;
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in logits) max = Math.Max(max, v);
            foreach (float v in logits) sum += Math.Exp(v - max);
            nll += Math.Log(sum) + max - logits[ids[i + 1]];
        }
        Assert.Equal(Math.Exp(nll / (n - 1 - first)), accuracy.FloatPerplexity, 1e-5 * accuracy.FloatPerplexity);
        // INT4 g32 on this training sentence: within a few percent of float, nearly the same top choices.
        Assert.InRange(accuracy.QuantizedPerplexity / accuracy.FloatPerplexity, 0.9, 1.1);
        Assert.InRange(accuracy.MeanKlDivergence, 1e-6, 0.1);
        Assert.InRange(accuracy.TopTokenAgreement, 0.8, 1);
    }

    private string Damage(string file, Action<FileStream> damage)
    {
        string copy = Path.Combine(_dir, Guid.NewGuid() + ".llmc");
        File.Copy(file, copy);
        using (var stream = new FileStream(copy, FileMode.Open)) damage(stream);
        return copy;
    }

    private static void Poke(FileStream stream, long offset, byte value)
    {
        stream.Position = offset;
        stream.WriteByte(value);
    }

    public static IEnumerable<object[]> Damages() =>
    [
        ["magic", (Action<FileStream>)(s => Poke(s, 0, (byte)'X'))],
        ["header checksum", (Action<FileStream>)(s => Poke(s, 20, 0x7F))],
        ["file length", (Action<FileStream>)(s => s.SetLength(s.Length - 100))],
        ["file length", (Action<FileStream>)(s => s.SetLength(s.Length + 1))],
        ["checksum", (Action<FileStream>)(s => Poke(s, 4096, 0x5A))],
        ["header", (Action<FileStream>)(s => s.SetLength(10))],
    ];

    [Theory]
    [MemberData(nameof(Damages))]
    public void DamageIsRefusedNamingTheField(string field, Action<FileStream> damage)
    {
        string good = Path.Combine(_dir, "good.llmc");
        if (!File.Exists(good)) Convert(new Int4Format(128, false), "good.llmc");
        string bad = Damage(good, damage);
        var ex = Assert.ThrowsAny<ModelFormatException>(() => ModelLoader.Load(bad));
        Assert.Contains(field, ex.Field);
        Assert.Equal(bad, ex.FilePath);
    }

    [Fact]
    public void ANewerVersionIsNotSupported()
    {
        string good = Convert(new Int4Format(128, false));
        string bad = Damage(good, s => Poke(s, 8, 9));
        Assert.Equal("version", Assert.Throws<ModelNotSupportedException>(() => ModelLoader.Load(bad)).Field);
    }

    [Fact]
    public void AnIncompleteWriteLeavesNoFile()
    {
        string destination = Path.Combine(_dir, "never.llmc");
        using (var model = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4 }))
        using (var cancel = new CancellationTokenSource())
        {
            cancel.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => LlmcModelWriter.Write(model, destination, new QuantizationReport
            {
                Recipe = "x", Format = "x", GroupSize = 128, Asymmetric = false, Activations = "Int8", EdgePrecision = "F16",
                SourcePrecision = "F16", Source = "x", CreatedBy = "x", Created = DateTimeOffset.UnixEpoch,
            }, overwrite: false, cancellation: cancel.Token));
        }
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void AnExistingDestinationIsKeptWithoutOverwrite()
    {
        string destination = Path.Combine(_dir, "exists.llmc");
        File.WriteAllText(destination, "keep me");
        var error = Assert.Throws<LlmCpu.Engine.OutputFileExistsException>(() => Convert(new Int4Format(128, false), "exists.llmc"));
        Assert.Equal(destination, error.FilePath);
        Assert.Equal("keep me", File.ReadAllText(destination));
    }
}
