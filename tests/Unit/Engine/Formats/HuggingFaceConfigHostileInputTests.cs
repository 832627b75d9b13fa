using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>
/// Damaged config.json and generation_config.json in an otherwise valid Hugging Face folder: sizes, head counts, ids
/// and epsilons given boundary values, the wrong kind or removed; keys duplicated; bytes damaged. Every case loads and
/// runs, or is refused naming the field.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class HuggingFaceConfigHostileInputTests(ITestOutputHelper output)
{
    private HostileCampaign Campaign(string name) => new("config.json " + name, output)
    {
        Load = folder => ModelLoader.Load(folder),
        Exercise = model => ModelUse.Generate(model),
    };

    [Fact]
    public void DamagedConfigs()
    {
        var random = new Random(HostileScale.Seed + 20);
        var config = TinyModel.Config();
        var summary = Campaign("damaged").Run(Enumerable.Range(0, HostileScale.Cases(1000)).Select(_ =>
        {
            var (bytes, damage) = HostileJson.Mutate(config, random);
            return new HostileCase(damage, TinyModel.HuggingFaceFolder()).With("config.json", bytes, damage);
        }));
        Assert.True(summary.Refused.Count > 0 && summary.Loaded > 0, summary.ToString());
    }

    [Fact]
    public void DamagedGenerationConfigs()
    {
        var random = new Random(HostileScale.Seed + 21);
        var generation = new System.Text.Json.Nodes.JsonObject { ["bos_token_id"] = 1, ["eos_token_id"] = new System.Text.Json.Nodes.JsonArray(2, 3), ["do_sample"] = true };
        Campaign("generation_config.json").Run(Enumerable.Range(0, HostileScale.Cases(200)).Select(_ =>
        {
            var (bytes, damage) = HostileJson.Mutate(generation, random);
            return new HostileCase(damage, TinyModel.HuggingFaceFolder()).With("generation_config.json", bytes, damage);
        }));
    }
}
