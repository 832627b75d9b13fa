using System.Text.Json.Nodes;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>
/// config.json fields that change the computation are honoured or refused by name, never ignored: a Mistral model with
/// a sliding window once loaded and attended past the window as if it had none.
/// </summary>
public sealed class HuggingFaceConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-hfconfig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteConfig(Action<JsonObject> change)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.FixtureModel, "config.json")))!.AsObject();
        change(config);
        File.WriteAllText(Path.Combine(_dir, "config.json"), config.ToJsonString());
        return _dir;
    }

    public static IEnumerable<object[]> Refused() =>
    [
        ["head_dim", (Action<JsonObject>)(c => c["head_dim"] = 64)],
        ["partial_rotary_factor", (Action<JsonObject>)(c => c["partial_rotary_factor"] = 0.3)],
        ["rope_scaling.rope_type", (Action<JsonObject>)(c => c["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 })],
        ["rope_scaling.rope_type", (Action<JsonObject>)(c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 2.0 })],
        ["hidden_act", (Action<JsonObject>)(c => c["hidden_act"] = "gelu")],
        ["hidden_act", (Action<JsonObject>)(c => c["hidden_act"] = "relu")],
        ["architectures", (Action<JsonObject>)(c => c["architectures"] = new JsonArray("BloomForCausalLM"))],
        ["use_sliding_window", (Action<JsonObject>)(c => { c["architectures"] = new JsonArray("Qwen2ForCausalLM"); c["use_sliding_window"] = true; })],
        ["alibi", (Action<JsonObject>)(c => { c["architectures"] = new JsonArray("FalconForCausalLM"); c["alibi"] = true; })],
        ["activation", (Action<JsonObject>)(c => { c["architectures"] = new JsonArray("FalconForCausalLM"); c["activation"] = "relu"; })],
    ];

    [Theory]
    [MemberData(nameof(Refused))]
    public void FieldsThatChangeTheMathAreRefusedByName(string field, Action<JsonObject> change)
    {
        var error = Assert.Throws<ModelNotSupportedException>(() => HuggingFaceConfig.Read(WriteConfig(change)));
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void MistralsWindowIsHonouredWhenShorterThanTheContext()
    {
        var mistral = HuggingFaceConfig.Read(WriteConfig(c => { c["architectures"] = new JsonArray("MistralForCausalLM"); c["sliding_window"] = 128; }));
        Assert.Equal(128, mistral.SlidingWindow);
        // A window at least as long as the context never skips a position; Llama has no window whatever the file says.
        var long_ = HuggingFaceConfig.Read(WriteConfig(c => { c["architectures"] = new JsonArray("MistralForCausalLM"); c["sliding_window"] = 256; }));
        Assert.Null(long_.SlidingWindow);
        Assert.Null(HuggingFaceConfig.Read(WriteConfig(c => c["sliding_window"] = 128)).SlidingWindow);
    }

    [Fact]
    public void BiasesAreRead()
    {
        var llama = HuggingFaceConfig.Read(WriteConfig(c => { c["attention_bias"] = true; c["mlp_bias"] = true; }));
        Assert.True(llama.AttentionBias && llama.AttentionOutputBias && llama.FeedForwardBias);
        var qwen = HuggingFaceConfig.Read(WriteConfig(c => c["architectures"] = new JsonArray("Qwen2ForCausalLM")));
        Assert.Equal("qwen2", qwen.Architecture);
        Assert.True(qwen.AttentionBias);
        Assert.False(qwen.AttentionOutputBias);
    }

    [Fact]
    public void RopeScalingIsRead()
    {
        var linear = HuggingFaceConfig.Read(WriteConfig(c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 }));
        Assert.Equal(new RopeScaling { Type = RopeScalingType.Linear, Factor = 2 }, linear.RopeScaling);
        var llama3 = HuggingFaceConfig.Read(WriteConfig(c => c["rope_scaling"] = new JsonObject
        {
            ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 8192,
        }));
        Assert.Equal(RopeScalingType.Llama3, llama3.RopeScaling.Type);
        Assert.Equal(8192, llama3.RopeScaling.OriginalContextLength);
        var partial = HuggingFaceConfig.Read(WriteConfig(c => c["partial_rotary_factor"] = 0.5));
        Assert.Equal(partial.HeadDim / 2, partial.RotaryDimensions);
    }

    [Fact]
    public void FalconLayoutsAreRead()
    {
        void Falcon(JsonObject c, bool newDecoder, bool parallel)
        {
            c["architectures"] = new JsonArray("FalconForCausalLM");
            c["new_decoder_architecture"] = newDecoder;
            c["parallel_attn"] = parallel;
            c["num_kv_heads"] = 2;
        }
        var sevenB = HuggingFaceConfig.ReadCheckpoint(WriteConfig(c => Falcon(c, newDecoder: false, parallel: true)));
        Assert.Equal((ResidualLayout.ParallelSharedNorm, 1, false), (sevenB.Model.Residual, sevenB.Model.KvHeadCount, sevenB.FalconPerHeadQkv));
        var fortyB = HuggingFaceConfig.ReadCheckpoint(WriteConfig(c => Falcon(c, newDecoder: true, parallel: true)));
        Assert.Equal((ResidualLayout.ParallelTwoNorms, 2), (fortyB.Model.Residual, fortyB.Model.KvHeadCount));
        var sequential = HuggingFaceConfig.ReadCheckpoint(WriteConfig(c => { Falcon(c, newDecoder: false, parallel: false); c["multi_query"] = false; }));
        Assert.Equal((ResidualLayout.Sequential, true), (sequential.Model.Residual, sequential.FalconPerHeadQkv));
    }

    [Fact]
    public void AMissingEpsilonIsTheTransformersDefault()
    {
        var config = HuggingFaceConfig.Read(WriteConfig(c => c.Remove("rms_norm_eps")));
        Assert.Equal(1e-6f, config.NormEpsilon);
        Assert.Equal(HuggingFaceConfig.DefaultRmsNormEpsilon, config.NormEpsilon);
        var stated = HuggingFaceConfig.Read(WriteConfig(c => c["rms_norm_eps"] = 1e-5));
        Assert.Equal(1e-5f, stated.NormEpsilon);
    }
}
