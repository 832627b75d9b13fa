using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

public sealed class SyntheticModelWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-synth-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Tokenizer => File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model"));

    [Fact]
    public void WritesALoadableModelWithTheShapeAskedFor()
    {
        var shape = new SyntheticShape("tiny", 256, 2, 8, 2, 512, 4096, 128);
        string path = Path.Combine(_dir, "tiny.llmc");
        SyntheticModelWriter.WriteLlmc(shape, path, new Int4Format(32, false), Tokenizer, seed: 7, overwrite: false);
        using var model = ModelLoader.Load(path);
        Assert.Equal(shape.ToConfig().ParameterCount, model.Parameters);
        Assert.Equal("Q4 g32 sym", model.Precision);
        AssertFiniteAndVaried(model);
    }

    [Fact]
    public void TheSameSeedWritesTheSameWeights()
    {
        var shape = new SyntheticShape("tiny", 128, 1, 4, 4, 256, 4096, 64);
        string a = Path.Combine(_dir, "a.llmc"), b = Path.Combine(_dir, "b.llmc");
        SyntheticModelWriter.WriteLlmc(shape, a, Int4Format.Default, Tokenizer, seed: 3, overwrite: false);
        SyntheticModelWriter.WriteLlmc(shape, b, Int4Format.Default, Tokenizer, seed: 3, overwrite: false);
        using var ma = ModelLoader.Load(a);
        using var mb = ModelLoader.Load(b);
        var options = new GenerationOptions { MaxTokens = 8, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        Assert.Equal(new TextGenerator(ma).Generate("x", options).TokenIds, new TextGenerator(mb).Generate("x", options).TokenIds);
    }

    [Fact]
    public void AVocabularySmallerThanTheTokenizerIsRefusedBeforeWriting()
    {
        var shape = new SyntheticShape("tiny", 128, 1, 4, 4, 256, 300, 64);
        Assert.Throws<ArgumentException>(() => SyntheticModelWriter.WriteLlmc(shape, Path.Combine(_dir, "v.llmc"), Int4Format.Default, Tokenizer, 1, false));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Theory]
    [InlineData(LlmCpu.Engine.Formats.Gguf.GgmlType.Q4_0, "Q4 g32 sym")]
    [InlineData(LlmCpu.Engine.Formats.Gguf.GgmlType.F16, "F16")]
    public void WritesALoadableGguf(LlmCpu.Engine.Formats.Gguf.GgmlType type, string precision)
    {
        var shape = new SyntheticShape("tiny", 256, 2, 8, 2, 512, 4096, 128);
        string path = Path.Combine(_dir, "tiny.gguf");
        SyntheticGgufWriter.Write(shape, path, type, Tokenizer, seed: 5, overwrite: false);
        using var model = ModelLoader.Load(path);
        Assert.Equal(shape.ToConfig().ParameterCount, model.Parameters);
        Assert.Equal(precision, model.Precision);
        AssertFiniteAndVaried(model);
    }

    /// <summary>Logits finite at every step and not the same distribution for different inputs.</summary>
    private static void AssertFiniteAndVaried(LanguageModel model)
    {
        using var session = new InferenceSession(model, LlmCpu.Kernels.Threading.WorkerPool.Shared, 16);
        var first = session.Prefill(model.Tokenizer.Encode("She", addBos: true)).ToArray();
        GreedyAgreement.AssertFinite(first);
        var second = session.Decode(300).ToArray();
        GreedyAgreement.AssertFinite(second);
        Assert.True(first.Zip(second, (a, b) => Math.Abs(a - b)).Max() > 1e-3, "two positions gave the same logits");
    }

    [Fact]
    public void PresetsHaveTheRealShapes()
    {
        Assert.Equal(1_100_048_384, SyntheticShape.TinyLlama1B.ToConfig().ParameterCount);
        Assert.Equal(6_738_415_616, SyntheticShape.Llama2_7B.ToConfig().ParameterCount);
        // The parameter counts of the checkpoints (Pythia's model card; Falcon's num_parameters(), embeddings tied).
        Assert.Equal(1_414_647_808, SyntheticShape.Pythia1_4B.ToConfig().ParameterCount);
        Assert.Equal(6_921_720_704, SyntheticShape.Falcon7B.ToConfig().ParameterCount);
    }

    /// <summary>
    /// Each family's small random GGUF loads as that family (norms, biases, rotary layout, residual wiring, tied
    /// output as written), holds every parameter its description counts, and runs to finite, varied logits.
    /// </summary>
    [Theory]
    [InlineData("gptneox", LlmCpu.Engine.Formats.Gguf.GgmlType.Q4_0)]
    [InlineData("falcon", LlmCpu.Engine.Formats.Gguf.GgmlType.Q4_0)]
    [InlineData("gptj", LlmCpu.Engine.Formats.Gguf.GgmlType.F16)]
    public void WritesEachFamilyAsAGgufItsLoaderReadsBack(string family, LlmCpu.Engine.Formats.Gguf.GgmlType type)
    {
        var shape = new SyntheticShape("tiny " + family, 256, 2, 4, family == "falcon" ? 1 : 4, 512, 4096, 128, family);
        string path = Path.Combine(_dir, family + ".gguf");
        SyntheticGgufWriter.Write(shape, path, type, Tokenizer, seed: 5, overwrite: false);
        using var model = ModelLoader.Load(path);
        var written = shape.ToConfig();
        var read = model.Config;
        Assert.Equal(written.Architecture, read.Architecture);
        Assert.Equal((written.Norm, written.NormBias, written.Residual, written.Activation, written.FeedForwardGated),
            (read.Norm, read.NormBias, read.Residual, read.Activation, read.FeedForwardGated));
        Assert.Equal((written.RotaryDimensions, written.RotaryPairing), (read.RotaryDimensions, read.RotaryPairing));
        Assert.Equal((written.AttentionBias, written.AttentionOutputBias, written.FeedForwardBias, written.OutputBias, written.TiedEmbeddings),
            (read.AttentionBias, read.AttentionOutputBias, read.FeedForwardBias, read.OutputBias, read.TiedEmbeddings));
        Assert.Equal(written.ParameterCount, model.Parameters);
        AssertFiniteAndVaried(model);
    }

    [Fact]
    public void AnotherFamilyIsRefusedAsAnLlmcFile()
    {
        Assert.Throws<ArgumentException>(() => SyntheticModelWriter.WriteLlmc(SyntheticShape.Pythia1_4B, Path.Combine(_dir, "p.llmc"), Int4Format.Default, Tokenizer, 1, false));
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
