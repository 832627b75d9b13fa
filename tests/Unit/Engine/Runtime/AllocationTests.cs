using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>The per-token hot path allocates nothing: decode steps and sampling, in every precision.</summary>
public sealed class AllocationTests
{
    public static IEnumerable<object[]> Precisions() =>
    [
        ["as stored (F16)", new LoadOptions()],
        ["F32", new LoadOptions { Precision = ModelPrecision.Float32 }],
        ["INT4 g128, INT8 activations", new LoadOptions { Precision = ModelPrecision.Int4 }],
        ["INT4 g32 asymmetric", new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(32, true) }],
        ["INT4 per channel", new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(-1, false) }],
        ["INT4 g64, FP32 activations", new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(64, false), Activations = ActivationMode.Float32 }],
    ];

    [Theory]
    [MemberData(nameof(Precisions))]
    public void DecodeAndSampleAllocateNothing(string name, LoadOptions options)
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel, options);
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(model, pool);
        var sampler = new Sampler(new SamplingOptions { Seed = 1 }, model.VocabularySize);
        var logits = session.Prefill(model.Tokenizer.Encode("She was not", addBos: true));
        int token = sampler.Sample(logits);
        for (int i = 0; i < 8; i++) token = sampler.Sample(session.Decode(token)); // warm up: JIT, scratch buffers

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 32; i++) token = sampler.Sample(session.Decode(token));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{name}: {allocated} bytes allocated over 32 tokens");
    }

    [Fact]
    public void PrefillWithEveryPositionsLogitsAllocatesNothing()
    {
        // Perplexity runs every window through this call; its rows go straight into the caller's buffer.
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(model, pool, 128);
        var ids = model.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat("She was not a woman of strong understanding", 20)), addBos: true)[..127];
        var logits = new float[(ids.Length - 64) * model.VocabularySize];
        session.Prefill(ids, 64, logits); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++)
        {
            session.Reset();
            session.Prefill(ids, 64, logits);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{allocated} bytes allocated over 3 windows");
    }
}
