using System.Text.Json.Nodes;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>
/// config.json fields that change the computation are honoured or refused, never ignored: a Mistral model with a
/// sliding window once loaded and attended past the window as if it had none.
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
        ["sliding_window", (Action<JsonObject>)(c => { c["architectures"] = new JsonArray("MistralForCausalLM"); c["sliding_window"] = 128; })],
        ["attention_bias", (Action<JsonObject>)(c => c["attention_bias"] = true)],
        ["mlp_bias", (Action<JsonObject>)(c => c["mlp_bias"] = true)],
        ["head_dim", (Action<JsonObject>)(c => c["head_dim"] = 64)],
        ["partial_rotary_factor", (Action<JsonObject>)(c => c["partial_rotary_factor"] = 0.5)],
        ["rope_scaling", (Action<JsonObject>)(c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 })],
        ["hidden_act", (Action<JsonObject>)(c => c["hidden_act"] = "gelu")],
        ["architectures", (Action<JsonObject>)(c => c["architectures"] = new JsonArray("GPTNeoXForCausalLM"))],
    ];

    [Theory]
    [MemberData(nameof(Refused))]
    public void FieldsThatChangeTheMathAreRefusedByName(string field, Action<JsonObject> change)
    {
        var error = Assert.Throws<ModelNotSupportedException>(() => HuggingFaceConfig.Read(WriteConfig(change)));
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void AWindowAtLeastAsLongAsTheContextOrNoneChangesNothing()
    {
        var mistral = HuggingFaceConfig.Read(WriteConfig(c => { c["architectures"] = new JsonArray("MistralForCausalLM"); c["sliding_window"] = 256; }));
        Assert.Equal(256, mistral.ContextLength);
        HuggingFaceConfig.Read(WriteConfig(c => { c["sliding_window"] = null; c["attention_bias"] = false; c["head_dim"] = 32; }));
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
