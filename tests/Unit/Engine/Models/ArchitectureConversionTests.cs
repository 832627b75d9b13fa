using System.Text.Json;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Every family survives the engine's own files: written to .llmc as loaded (FP32) it still matches its reference
/// outputs, so the stored description and biases are complete; converted to INT4 it loads with the same description
/// and agrees with the naive forward on its own weights; exported to GGUF (where llama.cpp would compute the same) it
/// loads back and still matches llama.cpp.
/// </summary>
public sealed class ArchitectureConversionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-arch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Families() => new(ArchitectureReference.Families);

    private static IReadOnlyList<ArchitectureReference> References(string family) =>
        ArchitectureReference.Read(family, family is "mistral" or "gptj" ? "transformers" : "llama-cpp");

    [Theory]
    [MemberData(nameof(Families))]
    public void AnFp32LlmcFileKeepsTheDescriptionAndTheOutputs(string family)
    {
        string path = Path.Combine(_dir, family + ".llmc");
        using (var source = ModelLoader.Load(RepoPaths.ArchitectureFixture(family), new LoadOptions { Precision = ModelPrecision.Float32 }))
        {
            LlmcModelWriter.Write(source, path, Report(), overwrite: false);
            using var copy = ModelLoader.Load(path);
            Assert.Equal(Json(source.Config), Json(copy.Config));
        }
        using var model = ModelLoader.Load(path);
        ArchitectureReference.AssertMatches(model, References(family));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ConvertsToInt4AndAgreesWithTheNaiveForward(string family)
    {
        string path = Path.Combine(_dir, family + "-q4.llmc");
        var result = Int4ModelConverter.Convert(RepoPaths.ArchitectureFixture(family), path, new Int4Format(32, false), ActivationMode.Int8,
            overwrite: false, evaluationText: null);
        Assert.Equal("Q4 g32 sym", result.Format);
        using var model = ModelLoader.Load(path);
        Assert.Equal(Json(LlmCpu.Engine.Formats.HuggingFaceConfig.Read(RepoPaths.ArchitectureFixture(family))), Json(model.Config));
        var reference = References(family)[2];
        using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: 64);
        var fast = session.Prefill(reference.PromptIds).ToArray();
        var naive = ReferenceForward.Logits(model, reference.PromptIds);
        float range = naive.Max() - naive.Min();
        Assert.True(fast.Zip(naive, (a, b) => MathF.Abs(a - b)).Max() <= 2e-2f * range);
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen2")]
    [InlineData("gptneox")]
    [InlineData("falcon-7b")]
    [InlineData("falcon-40b")]
    public void ExportsToGgufAndReadsItBack(string family)
    {
        string path = Path.Combine(_dir, family + ".gguf");
        using (var source = ModelLoader.Load(RepoPaths.ArchitectureFixture(family), new LoadOptions { Precision = ModelPrecision.Float32 }))
            GgufModelExporter.Export(source, path, new GgufExportOptions { Type = GgmlType.F32 });
        using var model = ModelLoader.Load(path);
        ArchitectureReference.AssertMatches(model, ArchitectureReference.Read(family, "llama-cpp"));
    }

    [Fact]
    public void AGptJGgufIsRead()
    {
        // llama.cpp writes no GPT-J GGUF; one in its conventions (gguf-py's names and keys) loads and matches transformers.
        string path = Path.Combine(_dir, "gptj.gguf");
        using (var source = ModelLoader.Load(RepoPaths.ArchitectureFixture("gptj"), new LoadOptions { Precision = ModelPrecision.Float32 }))
            source.Use(_ => { GgufModelExporter.CreateWriter(source, new GgufExportOptions { Type = GgmlType.F32 }, requireLlamaCppGraph: false).WriteFile(path, false, default); return 0; });
        using var model = ModelLoader.Load(path);
        Assert.Equal((RotaryPairing.Interleaved, ResidualLayout.ParallelSharedNorm, true), (model.Config.RotaryPairing, model.Config.Residual, model.Config.OutputBias));
        ArchitectureReference.AssertMatches(model, ArchitectureReference.Read("gptj", "transformers"));
    }

    [Theory]
    [InlineData("mistral", "sliding window")]
    [InlineData("gptj", "gptj architecture")]
    public void RefusesToExportWhatLlamaCppWouldComputeDifferently(string family, string reason)
    {
        using var source = ModelLoader.Load(RepoPaths.ArchitectureFixture(family));
        var error = Assert.Throws<LlmCpu.Engine.ModelNotSupportedException>(() => GgufModelExporter.Export(source, Path.Combine(_dir, "x.gguf")));
        Assert.Equal("architecture", error.Field);
        Assert.Contains(reason, error.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }

    private static string Json(ModelConfig config) => JsonSerializer.Serialize(config with { TiedEmbeddings = false });

    private static QuantizationReport Report() => new()
    {
        Recipe = "none", Format = "F32", GroupSize = 0, Asymmetric = false, Activations = "Float32", EdgePrecision = "F32",
        SourcePrecision = "F16", Source = "fixture", CreatedBy = "tests", Created = DateTimeOffset.UnixEpoch,
    };
}
