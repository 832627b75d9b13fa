using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// A prompt that takes a place in a running batch rides in the decode steps of the others: its chunks share passes with
/// their tokens, and still every row of a pass gives, bit for bit, what it gives alone.
/// </summary>
public sealed class BatchedPrefillTests
{
    private static LanguageModel Load(string precision)
    {
        if (precision == "GGUF Q4_0, Q8_0 output")
        {
            // The ggml block kernels, which GGUF files such as TinyLlama's Q4_0 run through.
            string directory = Directory.CreateTempSubdirectory("llmcpu-batched-prefill").FullName;
            try
            {
                return ModelLoader.Load(FixtureGguf.Create(GgmlType.Q4_0, GgmlType.Q8_0).Write(Path.Combine(directory, "austen-q4_0.gguf")));
            }
            finally
            {
                try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } // mapped on some systems
            }
        }
        return ModelLoader.Load(RepoPaths.FixtureModel, precision == "INT4 g128" ? new LoadOptions { Precision = ModelPrecision.Int4 } : new LoadOptions());
    }

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}, logit {i}: alone {expected[i]:R}, beside others {actual[i]:R}");
        }
    }

    [Theory]
    [InlineData("as stored (F16)")]
    [InlineData("INT4 g128")]
    [InlineData("GGUF Q4_0, Q8_0 output")]
    public void APromptCutIntoChunksBesideDecodeTokensGetsTheLogitsItGetsAlone(string precision)
    {
        using var model = Load(precision);
        using var pool = new WorkerPool(2);
        int vocab = model.VocabularySize;
        // 150 prompt tokens: alone they run in chunks of 64, 64 and 22; beside the other sequence in 37, 50 and 63.
        int[] prompt = [.. Enumerable.Range(0, 150).Select(i => 3 + i * 13 % 500)];
        int[] chunks = [37, 50, 63];
        int[] other = model.Tokenizer.Encode("She was not", addBos: true);
        int[] otherNext = [13, 278, 1063];

        float[] promptAlone;
        using (var alone = new InferenceSession(model, pool, 256)) promptAlone = alone.Prefill(prompt).ToArray();
        float[][] otherAlone;
        using (var alone = new InferenceSession(model, pool, 256))
        {
            alone.Prefill(other);
            otherAlone = [.. otherNext.Select(t => alone.Decode(t).ToArray())];
        }

        using var session = new InferenceSession(model, pool, 256);
        var promptCache = session.RentCache();
        try
        {
            session.Forward(other, [new ForwardSegment(session.Cache, 0, other.Length)], Span<float>.Empty);
            var logits = new float[2 * vocab];
            int done = 0;
            for (int step = 0; step < chunks.Length; step++)
            {
                int count = chunks[step];
                bool last = done + count == prompt.Length;
                int[] tokens = [otherNext[step], .. prompt.AsSpan(done, count)];
                // The decoding sequence's token, then the chunk; only the prompt's last chunk asks for logits.
                session.Forward(tokens, [new ForwardSegment(session.Cache, other.Length + step, 1), new ForwardSegment(promptCache, done, count) { WantsLogits = last }], logits);
                AssertSameBits(otherAlone[step], logits.AsSpan(0, vocab), $"decode step {step}");
                done += count;
            }
            AssertSameBits(promptAlone, logits.AsSpan(vocab, vocab), "the prompt's last token");
        }
        finally
        {
            session.ReturnCache(promptCache);
        }
    }

    [Fact]
    public void APassComputesLogitsOnlyForTheSegmentsThatWantThem()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        int vocab = model.VocabularySize;
        using var session = new InferenceSession(model, pool, 128);
        var second = session.RentCache();
        try
        {
            // Room for one row: the second segment's. Too small a span for two rows is refused.
            var logits = new float[vocab];
            session.Forward([5, 6, 7, 8], [new ForwardSegment(session.Cache, 0, 2) { WantsLogits = false }, new ForwardSegment(second, 0, 2)], logits);
            using var alone = new InferenceSession(model, pool, 128);
            AssertSameBits(alone.Prefill([7, 8]), logits, "the second segment");
            Assert.Throws<ArgumentException>(() => session.Forward([9, 10], [new ForwardSegment(session.Cache, 2, 1), new ForwardSegment(second, 2, 1)], logits));
        }
        finally
        {
            session.ReturnCache(second);
        }
    }

    /// <summary>
    /// Two places, three requests: the first ends after two tokens, and the third request's long prompt then runs in
    /// the next steps beside the second request's decode tokens, not in passes of its own.
    /// </summary>
    [Fact]
    public void ARefilledPlaceRunsItsPromptInTheOthersDecodeSteps()
    {
        using var model = Load("INT4 g128");
        using var pool = new WorkerPool(2);
        string longPrompt = string.Concat(Enumerable.Repeat("It is a truth universally acknowledged. ", 9));
        int longTokens = model.Tokenizer.Encode(longPrompt, addBos: true).Length;
        Assert.InRange(longTokens, InferenceSession.MaxChunk, 2 * (InferenceSession.MaxChunk - 1)); // two chunks beside one decode token
        GenerationRequest Request(string prompt, int maxTokens, int seed) => new(prompt, new GenerationOptions
        {
            MaxTokens = maxTokens, StopAtEos = false, ReusePromptPrefix = false, Sampling = new SamplingOptions { Seed = seed, Temperature = 0.8f },
        });
        GenerationRequest[] requests = [Request("She was not", 2, 1), Request("Mr. Darcy", 30, 2), Request(longPrompt, 5, 3)];
        var alone = requests.Select(r => new TextGenerator(model, pool).Generate(r.Prompt, r.Options)).ToArray();

        var generator = new BatchedGenerator(model, 2, pool);
        var outcomes = generator.Generate(requests);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(alone[i].TokenIds, outcomes[i].Result!.TokenIds);
        // Step 1 runs both short prompts, step 2 decodes both (the first ends), steps 3 and 4 carry the long prompt
        // beside the second request's tokens; the second request takes one token a step, so it ends at step 30.
        Assert.Equal(2, generator.StepCounts.MixedSteps);
        Assert.Equal(30, generator.StepCounts.Steps);
        Assert.Equal(outcomes.Sum(o => o.Result!.PromptTokens), generator.StepCounts.PromptRows);
    }
}
