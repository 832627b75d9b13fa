using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Sampling;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The whole chain: stages in llama.cpp's order (logit bias, penalties, top-k, typical-p, top-p, min-p, temperature,
/// draw), shown by cases whose outcome would differ in any other order; constraints; option validation.
/// </summary>
public sealed class SamplerChainTests
{
    private static HashSet<int> Draws(SamplingOptions options, float[] logits, int count = 400, Action<Sampler>? setup = null)
    {
        var sampler = new Sampler(options, logits.Length);
        setup?.Invoke(sampler);
        return Enumerable.Range(0, count).Select(_ => sampler.Sample(logits)).ToHashSet();
    }

    private static readonly SamplingOptions Wide = new() { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 3 };

    [Fact]
    public void FiltersSeeTheLogitsBeforeTemperature()
    {
        // Min-p 0.5 on the model's distribution drops id 2 (e^-2 = .14 of the best); had temperature 10 come first,
        // the flattened distribution would keep it (e^-0.2 = .82).
        float[] logits = [2, 1.5f, 0];
        var draws = Draws(Wide with { Temperature = 10, MinP = 0.5f }, logits);
        Assert.Equal(new HashSet<int> { 0, 1 }, draws);
    }

    [Fact]
    public void TopKComesBeforeTopP()
    {
        // Probabilities .5, .3, .2. Top-k 2 renormalizes to .625, .375, so top-p .6 keeps id 0 alone; top-p first
        // (.5 < .6) would keep ids 0 and 1.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        Assert.Equal(new HashSet<int> { 0 }, Draws(Wide with { TopK = 2, TopP = 0.6f }, logits));
        Assert.Equal(new HashSet<int> { 0, 1 }, Draws(Wide with { TopK = 0, TopP = 0.6f }, logits));
    }

    [Fact]
    public void PenaltiesComeBeforeTopK()
    {
        // Token 0 leads, but it was just seen: the repeat penalty halves it below token 1, and top-k 1 then keeps 1.
        float[] logits = [4, 3, 0];
        var draws = Draws(Wide with { TopK = 1, RepeatPenalty = 2 }, logits, setup: s => s.AcceptPrompt([0]));
        Assert.Equal(new HashSet<int> { 1 }, draws);
    }

    [Fact]
    public void LogitBiasComesFirstAndMinusInfinityBans()
    {
        float[] logits = [4, 3, 0];
        var ban = new Dictionary<int, float> { [0] = float.NegativeInfinity };
        Assert.Equal(new HashSet<int> { 1 }, Draws(Wide with { TopK = 1, LogitBias = ban }, logits));
        var boost = new Dictionary<int, float> { [2] = 10 };
        Assert.Equal(new HashSet<int> { 2 }, Draws(Wide with { TopK = 1, LogitBias = boost }, logits));
        Assert.Equal(2, new Sampler(SamplingOptions.Greedy with { LogitBias = boost }, 3).Sample(logits));
    }

    [Fact]
    public void TypicalComesBeforeMinP()
    {
        // One likely token over a flat thousand-token tail: typical-p 0.5 keeps tail tokens only, and min-p 0.5 then
        // measures against the best of those and keeps them all. Min-p first would measure against the likely token,
        // drop the whole tail (e^-6 < 0.5) and leave that token alone.
        var logits = new float[1001];
        logits[0] = 6;
        var draws = Draws(Wide with { TypicalP = 0.5f, MinP = 0.5f }, logits);
        Assert.DoesNotContain(0, draws);
        Assert.True(draws.Count > 100);
    }

    [Fact]
    public void GreedyIsTheArgmaxOfTheBiasedAndPenalizedLogits()
    {
        float[] logits = [4, 3, 0];
        var sampler = new Sampler(SamplingOptions.Greedy with { RepeatPenalty = 2 }, 3);
        sampler.AcceptPrompt([0]);
        Assert.Equal(1, sampler.Sample(logits));
        sampler.Accept(1); // now both 0 and 1 are penalized: 2 and 1.5
        Assert.Equal(0, sampler.Sample(logits));
    }

    [Fact]
    public void TheSameSeedGivesTheSameDrawsWithEveryStageOn()
    {
        var random = new Random(8);
        var logits = Enumerable.Range(0, 3000).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray();
        var options = new SamplingOptions
        {
            Temperature = 1.3f, TopK = 200, TopP = 0.9f, MinP = 0.02f, TypicalP = 0.95f, RepeatPenalty = 1.2f,
            FrequencyPenalty = 0.1f, PresencePenalty = 0.1f, RepeatLastN = 16, Seed = 99,
            LogitBias = new Dictionary<int, float> { [5] = 3, [6] = float.NegativeInfinity },
        };
        int[] Run()
        {
            var sampler = new Sampler(options, logits.Length);
            var tokens = new int[100];
            for (int i = 0; i < tokens.Length; i++) sampler.Accept(tokens[i] = sampler.Sample(logits));
            return tokens;
        }
        var first = Run();
        Assert.Equal(first, Run());
        Assert.DoesNotContain(6, first);
        Assert.True(first.Distinct().Count() > 20);
    }

    [Theory]
    [InlineData(1e-3f)]
    [InlineData(0.05f)]
    public void LowTemperaturesGiveTheLeaderWithEveryFilterOn(float temperature)
    {
        var random = new Random(2);
        var logits = Enumerable.Range(0, 32000).Select(_ => 100 + (float)(random.NextDouble() * 20)).ToArray();
        logits[777] = logits.Max() + 2;
        var sampler = new Sampler(new SamplingOptions { Temperature = temperature, TypicalP = 0.99f, MinP = 0.1f, Seed = 4 }, logits.Length);
        for (int i = 0; i < 20; i++) Assert.Equal(777, sampler.Sample(logits));
    }

    [Fact]
    public void AConstraintRefusingTheDrawBansEveryRefusedTokenAndDrawsAgain()
    {
        var random = new Random(6);
        var logits = Enumerable.Range(0, 100).Select(_ => (float)random.NextDouble()).ToArray();
        var odd = new Predicate(t => t % 2 == 1);
        var sampler = new Sampler(Wide, logits.Length, odd);
        var draws = Enumerable.Range(0, 300).Select(_ => sampler.Sample(logits)).ToArray();
        Assert.All(draws, t => Assert.Equal(1, t % 2));
        Assert.True(draws.Distinct().Count() > 10);
        // One check per draw, plus the whole vocabulary for each draw that came out even.
        Assert.True(odd.Checks > 300 + 100, $"{odd.Checks} checks: no draw was refused and redrawn");
    }

    [Fact]
    public void AConstraintThatAllowsTheDrawChangesNothing()
    {
        // Only a refused draw costs a second uniform number, as in llama.cpp: an always-true constraint gives the
        // unconstrained sequence exactly.
        var logits = Enumerable.Range(0, 500).Select(i => MathF.Sin(i)).ToArray();
        var free = new Sampler(Wide, logits.Length);
        var constrained = new Sampler(Wide, logits.Length, new Predicate(_ => true));
        for (int i = 0; i < 200; i++) Assert.Equal(free.Sample(logits), constrained.Sample(logits));
    }

    [Fact]
    public void ABiasThatBansEverythingIsAnArgumentError()
    {
        var ban = Enumerable.Range(0, 4).ToDictionary(i => i, _ => float.NegativeInfinity);
        var error = Assert.Throws<GenerationArgumentException>(() => new Sampler(Wide with { LogitBias = ban }, 4).Sample([1, 2, 3, 4]));
        Assert.Equal("LogitBias", error.ParamName);
    }

    public static TheoryData<string, SamplingOptions> InvalidOptions() => new()
    {
        { "MinP", new SamplingOptions { MinP = 1.5f } },
        { "MinP", new SamplingOptions { MinP = -0.1f } },
        { "TypicalP", new SamplingOptions { TypicalP = float.NaN } },
        { "RepeatPenalty", new SamplingOptions { RepeatPenalty = 0 } },
        { "RepeatPenalty", new SamplingOptions { RepeatPenalty = float.PositiveInfinity } },
        { "RepeatLastN", new SamplingOptions { RepeatLastN = -2 } },
        { "PresencePenalty", new SamplingOptions { PresencePenalty = float.NaN } },
        { "FrequencyPenalty", new SamplingOptions { FrequencyPenalty = float.NegativeInfinity } },
        { "LogitBias", new SamplingOptions { LogitBias = new Dictionary<int, float> { [10] = 1 } } },
        { "LogitBias", new SamplingOptions { LogitBias = new Dictionary<int, float> { [-1] = 1 } } },
        { "LogitBias", new SamplingOptions { LogitBias = new Dictionary<int, float> { [1] = float.PositiveInfinity } } },
        { "LogitBias", new SamplingOptions { LogitBias = new Dictionary<int, float> { [1] = float.NaN } } },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void InvalidOptionsAreRefusedByName(string name, SamplingOptions options) =>
        Assert.Equal(name, Assert.Throws<GenerationArgumentException>(() => new Sampler(options, 10)).ParamName);

    private sealed class Predicate(Func<int, bool> allows) : TokenConstraint
    {
        public int Checks { get; private set; }

        public override bool Allows(int token)
        {
            Checks++;
            return allows(token);
        }

        public override void Accept(int token) { }

        public override bool IsComplete => false;
    }
}
