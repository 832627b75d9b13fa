using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>The per-token hot path allocates nothing: decode steps and sampling, in every precision.</summary>
public sealed class AllocationTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Theory]
    [InlineData(LlmCpu.Engine.Models.ModelPrecision.AsStored)]
    [InlineData(LlmCpu.Engine.Models.ModelPrecision.Int4)]
    public void DecodeAndSampleAllocateNothing(LlmCpu.Engine.Models.ModelPrecision precision)
    {
        using var model = precision == LlmCpu.Engine.Models.ModelPrecision.AsStored
            ? null
            : LlmCpu.Engine.Models.ModelLoader.Load(RepoPaths.FixtureModel, new LlmCpu.Engine.Models.LoadOptions { Precision = precision });
        var target = model ?? fixture.Model;
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(target, pool);
        var sampler = new Sampler(new SamplingOptions { Seed = 1 }, target.VocabularySize);
        var logits = session.Prefill(target.Tokenizer.Encode("She was not", addBos: true));
        int token = sampler.Sample(logits);
        for (int i = 0; i < 8; i++) token = sampler.Sample(session.Decode(token)); // warm up: JIT, scratch buffers

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 32; i++) token = sampler.Sample(session.Decode(token));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
