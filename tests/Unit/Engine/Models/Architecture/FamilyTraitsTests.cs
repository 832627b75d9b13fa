using System.Text.Json.Nodes;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;

namespace LlmCpu.Tests.Engine.Models.Architecture;

/// <summary>
/// The one table of what each family shares: every reader starts from it, so a Hugging Face config.json that leaves
/// out every optional field (transformers' defaults) and a synthetic GGUF of the family's shape read back as the
/// table's traits; applying a family sets all of them and nothing else; llama.cpp's graphs are checked against it.
/// </summary>
public sealed class FamilyTraitsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-family-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (NormKind, bool, bool, FeedForwardActivation, RotaryPairing, ResidualLayout) Traits(ModelConfig c) =>
        (c.Norm, c.NormBias, c.FeedForwardGated, c.Activation, c.RotaryPairing, c.Residual);

    private static (NormKind, bool, bool, FeedForwardActivation, RotaryPairing, ResidualLayout) Traits(FamilyTraits f) =>
        (f.Norm, f.NormBias, f.FeedForwardGated, f.Activation, f.RotaryPairing, f.Residual);

    [Theory]
    [InlineData("LlamaForCausalLM", "llama")]
    [InlineData("Qwen2ForCausalLM", "qwen2")]
    [InlineData("GPTNeoXForCausalLM", "gptneox")]
    [InlineData("FalconForCausalLM", "falcon")]
    [InlineData("GPTJForCausalLM", "gptj")]
    public void AConfigWithOnlyTheRequiredFieldsReadsAsTheFamilysTraits(string className, string architecture)
    {
        // The fields each family's reader requires, under the names transformers' configs use.
        var json = new JsonObject { ["architectures"] = new JsonArray(className), ["vocab_size"] = 100 };
        if (architecture == "gptj")
        {
            json["n_embd"] = 64;
            json["n_layer"] = 2;
            json["n_head"] = 4;
        }
        else
        {
            json["hidden_size"] = 64;
            json["num_hidden_layers"] = 2;
            json["num_attention_heads"] = 4;
            json["intermediate_size"] = 128;
        }
        File.WriteAllText(Path.Combine(_dir, "config.json"), json.ToJsonString());

        var config = HuggingFaceConfig.Read(_dir);
        var family = FamilyTraits.Find(architecture)!;
        Assert.Equal(architecture, config.Architecture);
        Assert.Equal(Traits(family), Traits(config));
    }

    [Theory]
    [InlineData("TinyLlama-1.1B")]
    [InlineData("Pythia-1.4B")]
    [InlineData("Falcon-7B")]
    [InlineData("GPT-J-6B")]
    public void ASyntheticShapeIsItsFamily(string shape)
    {
        var config = SyntheticShape.Find(shape).ToConfig();
        Assert.Equal(Traits(FamilyTraits.Find(config.Architecture)!), Traits(config));
        // llama.cpp runs each of these shapes as the engine does (it has no graph for GPT-J).
        if (config.Architecture != "gptj") Assert.Null(GgufArchitectureMetadata.Mismatch(config));
    }

    [Fact]
    public void ApplyingAFamilySetsEveryTraitAndKeepsTheRest()
    {
        var llama = new ModelConfig
        {
            Architecture = "llama", EmbeddingLength = 64, LayerCount = 2, HeadCount = 4, KvHeadCount = 2, FeedForwardLength = 96,
            VocabularySize = 50, ContextLength = 128, NormEpsilon = 1e-6f, AttentionBias = true, RotaryDimensionCount = 8, BosTokenId = 3,
        };
        var gptj = FamilyTraits.GptJ.ApplyTo(llama);
        Assert.Equal("gptj", gptj.Architecture);
        Assert.Equal((NormKind.Layer, true, false, FeedForwardActivation.GeluTanh, RotaryPairing.Interleaved, ResidualLayout.ParallelSharedNorm), Traits(gptj));
        Assert.Equal(llama with
        {
            Architecture = gptj.Architecture, Norm = gptj.Norm, NormBias = gptj.NormBias, FeedForwardGated = gptj.FeedForwardGated,
            Activation = gptj.Activation, RotaryPairing = gptj.RotaryPairing, Residual = gptj.Residual,
        }, gptj);
        // And back: Llama's traits are ModelConfig's defaults.
        var back = FamilyTraits.Llama.ApplyTo(gptj);
        Assert.Equal(llama, back);
    }

    [Fact]
    public void FamiliesAreFoundByTheirGgufNameOnly()
    {
        Assert.Equal(["llama", "qwen2", "gptneox", "falcon", "gptj"], FamilyTraits.All.Select(f => f.Architecture));
        Assert.Same(FamilyTraits.Falcon, FamilyTraits.Find("falcon"));
        Assert.Null(FamilyTraits.Find("Falcon"));
        Assert.Null(FamilyTraits.Find("bloom"));
    }

    [Fact]
    public void LlamaCppsGraphsAreCheckedAgainstTheTable()
    {
        var pythia = SyntheticShape.Pythia1_4B.ToConfig();
        Assert.Null(GgufArchitectureMetadata.Mismatch(pythia));
        Assert.Equal("the GeluTanh activation", GgufArchitectureMetadata.Mismatch(pythia with { Activation = FeedForwardActivation.GeluTanh }));
        Assert.Equal("Rms norms for gptneox", GgufArchitectureMetadata.Mismatch(pythia with { Norm = NormKind.Rms }));
        var llama = SyntheticShape.TinyLlama1B.ToConfig();
        Assert.Equal("partial rotary embedding", GgufArchitectureMetadata.Mismatch(llama with { RotaryDimensionCount = 32 }));
        Assert.Null(GgufArchitectureMetadata.Mismatch(pythia with { RotaryDimensionCount = 64 }));
        Assert.Contains("no graph", GgufArchitectureMetadata.Mismatch(SyntheticShape.GptJ6B.ToConfig()));
    }
}
