using Xunit.Abstractions;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The fast forward pass against the naive one (<see cref="ReferenceForward"/>), for every family and every precision
/// the engine computes in, on 80 tokens: a prefill of 70 (a chunk of 64 and one of 6) and 10 decoded one by one, so
/// chunking, the cache and Mistral's window across chunk boundaries are all on the path. Tolerances, of the logit range:
/// FP32 and FP16 weights 1e-5 (measured below 5e-7: the same weights and FP32 arithmetic, summed in another order); INT4 weights 2e-2 (measured up to 1e-2: the
/// fast path also rounds activations to INT8 per group, which the naive one does not).
/// </summary>
public sealed class ReferenceForwardTests(ITestOutputHelper output)
{
    public static TheoryData<string, ModelPrecision> Cases()
    {
        var data = new TheoryData<string, ModelPrecision>();
        foreach (string family in ArchitectureReference.Families.Append("austen-llama"))
        {
            foreach (var precision in (ModelPrecision[])[ModelPrecision.Float32, ModelPrecision.Float16, ModelPrecision.Int4]) data.Add(family, precision);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FastForwardAgreesWithTheNaiveOne(string family, ModelPrecision precision)
    {
        string path = family == "austen-llama" ? RepoPaths.FixtureModel : RepoPaths.ArchitectureFixture(family);
        using var model = ModelLoader.Load(path, new LoadOptions { Precision = precision, Int4Format = new Int4Format(32, false) });
        var tokens = Tokens(model);

        using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: tokens.Length);
        session.Prefill(tokens.AsSpan(0, 70));
        for (int t = 70; t < tokens.Length - 1; t++) session.Decode(tokens[t]);
        var fast = session.Decode(tokens[^1]).ToArray();
        var naive = ReferenceForward.Logits(model, tokens);

        float range = naive.Max() - naive.Min();
        float error = fast.Zip(naive, (a, b) => MathF.Abs(a - b)).Max();
        float tolerance = precision == ModelPrecision.Int4 ? 2e-2f : 1e-5f;
        output.WriteLine($"{family} {precision}: max |fast - naive| = {error:G3}, {error / range:E2} of the range {range:F2}");
        Assert.True(error <= tolerance * range, $"max |fast - naive| = {error}, {error / range:E2} of the range {range}");
    }

    [Fact]
    public void AWindowedModelGivesBackTheBlocksOutsideItsWindow()
    {
        // Mistral's window of 8: as the sequence moves on, blocks wholly before the window go back to the pool, so 300
        // positions end holding at most two blocks (the window straddling a block boundary), and the logits still
        // agree with the naive forward, which keeps every position.
        using var model = ModelLoader.Load(RepoPaths.ArchitectureFixture("mistral"));
        var tokens = Enumerable.Range(0, 300).Select(i => 3 + i * 7 % 4000).ToArray();
        using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: tokens.Length);
        session.Prefill(tokens.AsSpan(0, 250));
        for (int t = 250; t < tokens.Length - 1; t++)
        {
            session.Decode(tokens[t]);
            Assert.True(session.Cache.BlocksHeld <= 2, $"{session.Cache.BlocksHeld} blocks held at position {session.Position}");
        }
        Assert.False(session.TryRewind(100)); // its window's blocks are gone
        var fast = session.Decode(tokens[^1]).ToArray();
        Assert.Equal(session.Cache.BlocksHeld, model.KvCacheBlocksInUse);
        var naive = ReferenceForward.Logits(model, tokens);
        float range = naive.Max() - naive.Min();
        Assert.True(fast.Zip(naive, (a, b) => MathF.Abs(a - b)).Max() <= 1e-5f * range);
    }

    [Fact]
    public void TheNaiveForwardMatchesLlamaCpp()
    {
        // The oracle is itself checked against an implementation that is not ours, on the first prompt of each family.
        foreach (string family in ArchitectureReference.LlamaCppFamilies.Where(f => f != "mistral"))
        {
            using var model = ModelLoader.Load(RepoPaths.ArchitectureFixture(family));
            var reference = ArchitectureReference.Read(family, "llama-cpp")[0];
            var naive = ReferenceForward.Logits(model, reference.PromptIds);
            float range = reference.Logits.Max() - reference.Logits.Min();
            float error = naive.Zip(reference.Logits, (a, b) => MathF.Abs(a - b)).Max();
            output.WriteLine($"{family}: max |naive - llama.cpp| = {error:G3}, {error / range:E2} of the range {range:F2}");
            Assert.True(error <= 1e-3f * range, $"{family}: max |naive - llama.cpp| = {error}, {error / range:E2} of the range {range}");
        }
    }

    /// <summary>80 tokens of held-out text, BOS first.</summary>
    private static int[] Tokens(LanguageModel model)
    {
        string text = TestTexts.HeldOut;
        var ids = model.Tokenizer.Encode(text, addBos: true);
        Assert.True(ids.Length >= 80, $"the text gives only {ids.Length} tokens");
        return ids[..80];
    }
}
