using System.Text;
using System.Text.Json;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>The sampler's options through whole generations on the fixture model.</summary>
public sealed class GenerationSamplingTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static readonly SamplingOptions EveryStage = new()
    {
        Temperature = 0.9f, TopK = 50, TopP = 0.9f, MinP = 0.03f, TypicalP = 0.97f, RepeatPenalty = 1.15f, RepeatLastN = 32,
        PresencePenalty = 0.2f, FrequencyPenalty = 0.1f, Seed = 1234,
    };

    [Fact]
    public void TheSameSeedGivesTheSameTokensOnEveryRunAndThreadCount()
    {
        var options = new GenerationOptions { MaxTokens = 64, StopAtEos = false, Sampling = EveryStage };
        using var one = new WorkerPool(1);
        using var two = new WorkerPool(2);
        var a = new TextGenerator(fixture.Model, one).Generate("She was not", options);
        var b = new TextGenerator(fixture.Model, two).Generate("She was not", options);
        var c = new TextGenerator(fixture.Model, two).Generate("She was not", options);
        Assert.Equal(a.TokenIds, b.TokenIds);
        Assert.Equal(a.TokenIds, c.TokenIds);
        Assert.Equal(a.Text, b.Text);
        var other = new TextGenerator(fixture.Model, two).Generate("She was not", options with { Sampling = EveryStage with { Seed = 1235 } });
        Assert.NotEqual(a.TokenIds, other.TokenIds);
    }

    [Fact]
    public void APresencePenaltyOverTheWholeContextNeverRepeatsAToken()
    {
        // Greedy text of this model repeats tokens within a few dozen; a presence penalty of 100 over every token seen
        // (prompt included) takes each seen token out of the running.
        const string prompt = "It is a truth universally acknowledged";
        var plain = new TextGenerator(fixture.Model).Generate(prompt, new GenerationOptions { MaxTokens = 60, StopAtEos = false, Sampling = SamplingOptions.Greedy });
        Assert.True(plain.TokenIds.Distinct().Count() < plain.TokenIds.Count, "the unpenalized text should repeat some token");

        var penalized = new TextGenerator(fixture.Model).Generate(prompt, new GenerationOptions
        {
            MaxTokens = 60, StopAtEos = false, Sampling = SamplingOptions.Greedy with { PresencePenalty = 100, RepeatLastN = -1 },
        });
        var promptIds = fixture.Model.Tokenizer.Encode(prompt, addBos: true);
        Assert.Equal(penalized.TokenIds.Count, penalized.TokenIds.Distinct().Count());
        Assert.Empty(penalized.TokenIds.Intersect(promptIds));
    }

    [Fact]
    public void ABannedTokenNeverAppears()
    {
        var options = new GenerationOptions { MaxTokens = 40, StopAtEos = false, Sampling = SamplingOptions.Greedy };
        var free = new TextGenerator(fixture.Model).Generate("She was not", options);
        int banned = free.TokenIds[0];
        var bias = new LogitBiasBuilder(fixture.Model.Tokenizer).Add(banned, float.NegativeInfinity).Build();
        var result = new TextGenerator(fixture.Model).Generate("She was not", options with { Sampling = SamplingOptions.Greedy with { LogitBias = bias } });
        Assert.DoesNotContain(banned, result.TokenIds);
        Assert.NotEqual(free.TokenIds[0], result.TokenIds[0]);
    }

    [Fact]
    public void ABiasByTextNamesEveryTokenWithThatTextOrElseItsEncoding()
    {
        var tokenizer = fixture.Model.Tokenizer;
        var table = tokenizer.TokenTable;
        // "{" has no piece of its own in this vocabulary: its byte piece <0x7B> has that text.
        var brace = new LogitBiasBuilder(tokenizer).Add("{", -5).Build();
        Assert.Equal("{", table.Text(Assert.Single(brace.Keys)));
        // A text no single token has: every token of its encoding, once; biases given twice add up.
        var phrase = new LogitBiasBuilder(tokenizer).Add("Mr. Darcy's", 2).Add("Mr. Darcy's", 1).Build();
        Assert.Equal(tokenizer.Encode("Mr. Darcy's", addBos: false).Distinct().Order(), phrase.Keys.Order());
        Assert.All(phrase.Values, v => Assert.Equal(3f, v));
        Assert.Throws<LlmCpu.Engine.GenerationArgumentException>(() => new LogitBiasBuilder(tokenizer).Add("", 1));
    }

    [Fact]
    public void TokensReportTheModelsProbabilitiesAndTheTopAlternatives()
    {
        const string prompt = "Mr. Darcy";
        var result = new TextGenerator(fixture.Model).Generate(prompt, new GenerationOptions
        {
            MaxTokens = 12, StopAtEos = false, Sampling = SamplingOptions.Greedy, IncludeTokens = true, TopProbabilities = 5,
        });
        var tokens = Assert.IsAssignableFrom<IReadOnlyList<SampledToken>>(result.Tokens);
        Assert.Equal(result.TokenIds, tokens.Select(t => t.Id));
        foreach (var token in tokens)
        {
            // Greedy picks the most likely token, so it heads its own list of alternatives.
            Assert.Equal(5, token.TopTokens.Count);
            Assert.Equal(token.Id, token.TopTokens[0].Id);
            Assert.Equal(token.Probability, token.TopTokens[0].Probability);
            Assert.Equal(token.TopTokens.Select(t => t.Probability).OrderDescending(), token.TopTokens.Select(t => t.Probability));
            Assert.Equal(fixture.Model.Tokenizer.TokenTable.Text(token.Id), token.Text);
        }

        // The first position against a softmax of the prompt's logits in double precision.
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared);
        var logits = session.Prefill(fixture.Model.Tokenizer.Encode(prompt, addBos: true)).ToArray();
        double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
        var expected = logits.Select((l, id) => (Id: id, P: Math.Exp(l - max) / sum)).OrderByDescending(x => x.P).Take(5).ToArray();
        Assert.Equal(expected.Select(x => x.Id), tokens[0].TopTokens.Select(t => t.Id));
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i].P, tokens[0].TopTokens[i].Probability, 1e-5);
    }

    [Fact]
    public void TokensAreReportedOnlyWhenAskedFor()
    {
        var plain = new TextGenerator(fixture.Model).Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 3 });
        Assert.Null(plain.Tokens);
        var bare = new TextGenerator(fixture.Model).Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 3, IncludeTokens = true });
        Assert.All(bare.Tokens!, t => Assert.Empty(t.TopTokens));
    }

    [Fact]
    public void JsonFormatGivesJsonForEverySeed()
    {
        // The fixture model has read no JSON; constrained, every answer is a JSON prefix, and those that end by
        // closing their value (most, within 250 tokens) parse as a JSON object or array.
        int complete = 0;
        for (int seed = 1; seed <= 16; seed++)
        {
            var result = new TextGenerator(fixture.Model).Generate("She said", new GenerationOptions
            {
                MaxTokens = 250, Format = GenerationFormat.Json, Sampling = new SamplingOptions { Seed = seed },
            });
            Assert.True(IsJsonPrefix(result.Text), $"seed {seed}: not a JSON prefix: {result.Text}");
            if (result.StopReason != StopReason.EndOfSequence)
            {
                Assert.True(result.StopReason is StopReason.MaxTokens or StopReason.ContextFull, $"seed {seed}: {result.StopReason}");
                continue;
            }
            complete++;
            using var document = JsonDocument.Parse(result.Text);
            Assert.True(document.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array);
        }
        Assert.True(complete >= 5, $"only {complete} of 16 answers closed their value");
    }

    private static bool IsJsonPrefix(string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text), isFinalBlock: false, state: default);
        try
        {
            while (reader.Read()) { }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
