using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;
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

    /// <summary>Every family's config (GPT-NeoX, Falcon and GPT-J read other fields, with other defaults, than Llama's).</summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("mistral")]
    [InlineData("qwen2")]
    [InlineData("gptneox")]
    [InlineData("falcon-7b")]
    [InlineData("falcon-40b")]
    [InlineData("gptj")]
    public void DamagedConfigsOfEveryFamily(string family)
    {
        var random = new Random(HostileScale.Seed + 22 + family.Sum(c => c)); // a stable seed per family (string hashes vary by process)
        string folder = RepoPaths.ArchitectureFixture(family);
        var files = new[] { "config.json", "model.safetensors", "tokenizer.model" }.ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(folder, f)));
        var config = System.Text.Json.Nodes.JsonNode.Parse(files["config.json"])!.AsObject();
        Campaign(family).Run(Enumerable.Range(0, HostileScale.Cases(150)).Select(_ =>
        {
            var (bytes, damage) = HostileJson.Mutate(config, random);
            return new HostileCase(damage, files).With("config.json", bytes, damage);
        }));
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
