using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Sampling;
using LlmCpu.Engine.Tokenization;
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

        var (allocated, windows) = SteadyAllocation.Measure(() => { token = sampler.Sample(session.Decode(token)); return 1; }, 32);
        Assert.True(allocated == 0, $"{name}: bytes allocated in each window of 32 tokens: {windows}");
    }

    public static TheoryData<string> SamplerSettings() => ["every stage on", "every stage on, JSON", "greedy with penalties, JSON", "no top-k, top-p 0.9"];

    private static SamplingOptions Settings(string name) => name switch
    {
        "greedy with penalties, JSON" => SamplingOptions.Greedy with { RepeatPenalty = 1.3f, FrequencyPenalty = 0.2f },
        "no top-k, top-p 0.9" => new SamplingOptions { TopK = 0, TopP = 0.9f, Seed = 2 },
        _ => new SamplingOptions
        {
            Seed = 1, TopK = 60, TopP = 0.9f, MinP = 0.02f, TypicalP = 0.95f, RepeatPenalty = 1.1f, RepeatLastN = 16,
            FrequencyPenalty = 0.1f, PresencePenalty = 0.1f,
            LogitBias = new Dictionary<int, float> { [13] = 2, [2] = float.NegativeInfinity },
        },
    };

    [Theory]
    [MemberData(nameof(SamplerSettings))]
    public void TheWholeTokenStepAllocatesNothing(string settings)
    {
        // Everything a generation does per token without a listener: decode, the full sampler chain with its penalty
        // window and an output constraint, accepting the token, streaming decoding and stop-string matching.
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(model, pool);
        var json = settings.Contains("JSON") ? new JsonConstraint(model.Tokenizer.TokenTable) : null;
        var sampler = new Sampler(Settings(settings), model.VocabularySize, json);
        int[] prompt = model.Tokenizer.Encode("She was not", addBos: true);
        sampler.AcceptPrompt(prompt);
        var decoder = new StreamingDecoder(model.Tokenizer, prompt, 200);
        var stops = new StopSequenceMatcher(["Mr. Darcy said", "\n\n"]);
        var logits = session.Prefill(prompt);
        int Step(ReadOnlySpan<float> current)
        {
            int token = sampler.Sample(current);
            sampler.Accept(token);
            int before = decoder.Completed.Length;
            decoder.AppendToken(token);
            stops.Find(decoder.Completed, before);
            stops.HeldBack(decoder.Completed);
            return token;
        }
        int next = Step(logits);
        for (int i = 0; i < 8 && json?.IsComplete != true; i++) next = Step(session.Decode(next)); // warm up

        int steps = 0;
        var (allocated, windows) = SteadyAllocation.Measure(() =>
        {
            if (json?.IsComplete == true) return 0;
            next = Step(session.Decode(next));
            steps++;
            return 1;
        }, 16);
        Assert.True(steps >= 16, $"{settings}: only {steps} steps before the JSON value closed");
        Assert.True(allocated == 0, $"{settings}: bytes allocated in each window of 16 tokens: {windows}");
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

        var (allocated, windows) = SteadyAllocation.Measure(() =>
        {
            session.Reset();
            session.Prefill(ids, 64, logits);
            return 1;
        }, 2);
        Assert.True(allocated == 0, $"bytes allocated in each round of 2 prefills: {windows}");
    }
}
