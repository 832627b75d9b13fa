using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// A batch gives every request the tokens it gets alone: the same prompt, seed and options through
/// <see cref="TextGenerator"/> one at a time are the reference. Requests differ in length and stop rules, so sequences
/// finish at different steps and free slots take the waiting requests mid-batch.
/// </summary>
public sealed class BatchedGeneratorTests
{
    public static TheoryData<string, int> PrecisionsAndBatchSizes()
    {
        var data = new TheoryData<string, int>();
        foreach (var precision in new[] { "as stored (F16)", "INT4 g128" })
        {
            foreach (int batch in new[] { 1, 3, 8 }) data.Add(precision, batch);
        }
        return data;
    }

    private static LanguageModel Load(string precision) => ModelLoader.Load(RepoPaths.FixtureModel,
        precision == "INT4 g128" ? new LoadOptions { Precision = ModelPrecision.Int4 } : new LoadOptions());

    /// <summary>Ten requests: greedy and sampled, short and long, stopping on the limit, a stop string or JSON's end.</summary>
    private static GenerationRequest[] MixedRequests()
    {
        string[] prompts = ["She was not", "Mr. Darcy", "It is a truth universally acknowledged", "The evening passed", "Elizabeth",
            "\"I am", "They walked", "Her sister", "Of all the", "When Jane"];
        int[] maxTokens = [3, 40, 12, 25, 1, 33, 7, 18, 0, 28];
        return [.. prompts.Select((prompt, i) => new GenerationRequest(prompt, new GenerationOptions
        {
            MaxTokens = maxTokens[i],
            ReusePromptPrefix = false,
            StopAtEos = i % 4 != 0,
            StopSequences = i == 5 ? ["."] : [],
            IncludeTokens = i == 3,
            TopProbabilities = i == 3 ? 3 : 0,
            Sampling = i % 3 == 0
                ? SamplingOptions.Greedy with { RepeatPenalty = i == 6 ? 1.2f : 1f }
                : new SamplingOptions { Seed = 100 + i, Temperature = 0.9f + 0.05f * i, TopK = 20 + i, RepeatPenalty = 1.1f },
        }))];
    }

    [Theory]
    [MemberData(nameof(PrecisionsAndBatchSizes))]
    public void EveryRequestGetsTheTokensItGetsAlone(string precision, int batchSize)
    {
        using var model = Load(precision);
        using var pool = new WorkerPool(2);
        var requests = MixedRequests();
        var alone = requests.Select(r => new TextGenerator(model, pool).Generate(r.Prompt, r.Options)).ToArray();

        var finishedOrder = new List<int>();
        var pieces = new List<GenerationPiece>();
        var outcomes = new BatchedOutcome[requests.Length];
        var generator = new BatchedGenerator(model, batchSize, pool);
        generator.Generate(requests, o => { finishedOrder.Add(o.Index); outcomes[o.Index] = o; }, onPiece: pieces.Add);

        for (int i = 0; i < requests.Length; i++)
        {
            var outcome = outcomes[i];
            Assert.Null(outcome.Error);
            var result = outcome.Result!;
            Assert.Equal(i, outcome.Index);
            Assert.Same(requests[i], outcome.Request);
            Assert.True(alone[i].TokenIds.SequenceEqual(result.TokenIds),
                $"request {i}: alone [{string.Join(' ', alone[i].TokenIds)}], in a batch of {batchSize} [{string.Join(' ', result.TokenIds)}]");
            Assert.Equal(alone[i].Text, result.Text);
            Assert.Equal(alone[i].StopReason, result.StopReason);
            Assert.Equal(alone[i].PromptTokens, result.PromptTokens);
            Assert.Equal(alone[i].Tokens?.Select(t => t.Probability), result.Tokens?.Select(t => t.Probability));
            // Each request's pieces, picked out by their index, are its text.
            Assert.Equal(result.Text, string.Concat(pieces.Where(p => p.PromptIndex == i).Select(p => p.Text)));
        }
        // The requests ended at different steps; with fewer slots than requests the freed slots took the waiting ones.
        Assert.Equal(requests.Length, finishedOrder.Distinct().Count());
        Assert.Contains(StopReason.StopSequence, outcomes.Select(o => o.Result!.StopReason));
        if (batchSize > 1) Assert.NotEqual(Enumerable.Range(0, requests.Length), finishedOrder);
        // A freed place's next prompt ran beside the others' decode tokens, and its tokens are still its own.
        if (batchSize > 1) Assert.True(generator.StepCounts.MixedSteps > 0);
    }

    public static TheoryData<string> Families() => [.. ArchitectureReference.Families];

    /// <summary>
    /// Every layout the forward pass knows (parallel residuals, biases, layer norms, partial rotary dimensions) and
    /// Mistral's sliding window of 8 positions, whose caches are rings of 128 slots: the first request runs past them.
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void EveryArchitectureGivesTheTokensItGivesAlone(string family)
    {
        using var model = ModelLoader.Load(ArchitectureReference.ModelPath(family, "hf"));
        using var pool = new WorkerPool(2);
        int[] maxTokens = [150, 6, 13, 2, 17];
        var requests = maxTokens.Select((max, i) => new GenerationRequest(i % 2 == 0 ? "She was not" : "It is a truth universally",
            new GenerationOptions { MaxTokens = max, StopAtEos = false, ReusePromptPrefix = false,
                Sampling = i == 0 ? SamplingOptions.Greedy : new SamplingOptions { Seed = i, Temperature = 1.2f } })).ToArray();
        var alone = requests.Select(r => new TextGenerator(model, pool).Generate(r.Prompt, r.Options)).ToArray();
        var outcomes = new BatchedGenerator(model, 3, pool).Generate(requests);
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.True(alone[i].TokenIds.SequenceEqual(outcomes[i].Result!.TokenIds),
                $"{family}, request {i}: alone [{string.Join(' ', alone[i].TokenIds)}], in a batch [{string.Join(' ', outcomes[i].Result!.TokenIds)}]");
        }
    }

    [Fact]
    public void ABatchStepGivesEachSequenceTheLogitsItGetsAlone()
    {
        // Three sequences at different positions (prompts of 3, 9 and 5 tokens) decode one token each in one pass.
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        int vocab = model.VocabularySize;
        string[] prompts = ["She was not", "It is a truth universally acknowledged that a single", "Mr. Darcy was"];
        int[] next = [13, 278, 1063];
        var expected = new float[prompts.Length][];
        var promptIds = prompts.Select(p => model.Tokenizer.Encode(p, addBos: true)).ToArray();
        for (int s = 0; s < prompts.Length; s++)
        {
            using var alone = new InferenceSession(model, pool, 64);
            alone.Prefill(promptIds[s]);
            expected[s] = alone.Decode(next[s]).ToArray();
        }

        using var session = new InferenceSession(model, pool, 64);
        var caches = new[] { session.Cache, session.RentCache(), session.RentCache() };
        try
        {
            for (int s = 0; s < prompts.Length; s++) session.Forward(promptIds[s], [new ForwardSegment(caches[s], 0, promptIds[s].Length)], Span<float>.Empty);
            var logits = new float[prompts.Length * vocab];
            var segments = Enumerable.Range(0, prompts.Length).Select(s => new ForwardSegment(caches[s], promptIds[s].Length, 1)).ToArray();
            session.Forward(next, segments, logits);
            for (int s = 0; s < prompts.Length; s++)
            {
                var row = logits.AsSpan(s * vocab, vocab);
                for (int v = 0; v < vocab; v++) Assert.True(Math.Abs(row[v] - expected[s][v]) <= 1e-4f * (1 + Math.Abs(expected[s][v])), $"sequence {s}, logit {v}: {row[v]} vs {expected[s][v]}");
            }
        }
        finally
        {
            session.ReturnCache(caches[1]);
            session.ReturnCache(caches[2]);
        }
    }

    [Fact]
    public void ABatchedDecodeStepAllocatesNothing()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        using var session = new InferenceSession(model, pool, 256);
        const int sequences = 8;
        var caches = Enumerable.Range(0, sequences).Select(s => s == 0 ? session.Cache : session.RentCache()).ToArray();
        var tokens = new int[sequences];
        var segments = new ForwardSegment[sequences];
        var logits = new float[sequences * model.VocabularySize];
        int position = 0;
        int Step()
        {
            for (int s = 0; s < sequences; s++)
            {
                tokens[s] = 100 + s;
                segments[s] = new ForwardSegment(caches[s], position + s, 1); // sequences at different positions
            }
            session.Forward(tokens, segments, logits);
            position++;
            return 1;
        }
        try
        {
            for (int i = 0; i < 4; i++) Step(); // warm up
            var (allocated, windows) = SteadyAllocation.Measure(Step, 16);
            Assert.True(allocated == 0, $"bytes allocated in each window of 16 steps: {windows}");
        }
        finally
        {
            foreach (var cache in caches.Skip(1)) session.ReturnCache(cache);
        }
    }

    [Fact]
    public void ABadRequestFailsAloneAndTheOthersGoOn()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        GenerationRequest[] requests =
        [
            new("She was not", new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy }),
            new("", new GenerationOptions { MaxTokens = 5, AddBos = false }),
            new("Mr. Darcy", new GenerationOptions { MaxTokens = -1 }),
            new(string.Concat(Enumerable.Repeat("word ", 300)), new GenerationOptions { ContextLength = 64 }),
            new("The evening passed", new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy }),
        ];
        var outcomes = new BatchedGenerator(model, 4, pool).Generate(requests);
        Assert.Equal([0, 1, 2, 3, 4], outcomes.Select(o => o.Index));
        Assert.All(new[] { 1, 2, 3 }, i => Assert.IsType<GenerationArgumentException>(outcomes[i].Error));
        Assert.All(new[] { 0, 4 }, i => Assert.Equal(5, outcomes[i].Result!.GeneratedTokens));
    }

    [Fact]
    public void CancellationStopsEverySequenceAndTheWaitingOnes()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        var requests = Enumerable.Range(0, 6).Select(i => new GenerationRequest("She was not",
            new GenerationOptions { MaxTokens = 200, StopAtEos = false, Sampling = new SamplingOptions { Seed = i } })).ToArray();
        using var cancel = new CancellationTokenSource();
        var outcomes = new BatchedGenerator(model, 3, pool).Generate(requests, cancel.Token,
            piece => { if (piece.PromptIndex == 1 && piece.Index == 4) cancel.Cancel(); });
        Assert.All(outcomes, o => Assert.Equal(StopReason.Cancelled, o.Result!.StopReason));
        // The first three were running side by side. In the step where request 1 took its fifth token and asked to
        // stop, request 0 had taken its fifth before; request 2 saw the request instead of sampling.
        Assert.Equal([5, 5, 4], outcomes.Take(3).Select(o => o.Result!.GeneratedTokens));
        Assert.All(outcomes.Skip(3), o => Assert.Equal(0, o.Result!.GeneratedTokens));
    }

    [Fact]
    public void TimingsAndStepCountsDescribeTheLastCall()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        var timings = new ForwardTimings();
        var generator = new BatchedGenerator(model, 2, pool) { Timings = timings };
        var requests = new[] { "She was not", "Mr. Darcy" }.Select(p => new GenerationRequest(p,
            new GenerationOptions { MaxTokens = 6, StopAtEos = false, Sampling = SamplingOptions.Greedy })).ToArray();
        var outcomes = generator.Generate(requests);
        Assert.True(timings[ForwardTimings.Stage.GateUp] > TimeSpan.Zero && timings[ForwardTimings.Stage.Logits] > TimeSpan.Zero);
        // Both prompts in one step, then one step per further token of the two together.
        Assert.Equal(6, generator.StepCounts.Steps);
        Assert.Equal(0, generator.StepCounts.MixedSteps);
        Assert.Equal(2 * 5, generator.StepCounts.DecodeRows);
        Assert.Equal(outcomes.Sum(o => o.Result!.PromptTokens), generator.StepCounts.PromptRows);
        generator.Generate(requests.Take(1).ToArray());
        Assert.Equal(6, generator.StepCounts.Steps); // counted again from zero
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void TheBatchSizeIsChecked(int size)
    {
        using var model = Load("as stored (F16)");
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchedGenerator(model, size));
    }
}
