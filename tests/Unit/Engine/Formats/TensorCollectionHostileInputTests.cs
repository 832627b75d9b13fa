using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>
/// A sharded Hugging Face folder whose model.safetensors.index.json is damaged: shard names changed to other shards,
/// missing files, paths that leave the folder, non-strings; the weight map removed or of the wrong kind. A name of a
/// file that is not there is ModelNotFound; everything else loads or is refused as a damaged file.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class TensorCollectionHostileInputTests(ITestOutputHelper output)
{
    [Fact]
    public void TheShardedSeedLoadsAndRuns() =>
        Assert.Equal(1, Campaign().Run([new HostileCase("sharded seed", TinyModel.ShardedHuggingFaceFolder())]).Used);

    [Fact]
    public void DamagedIndexes()
    {
        var random = new Random(HostileScale.Seed + 30);
        var seed = TinyModel.ShardedHuggingFaceFolder();
        var index = System.Text.Json.Nodes.JsonNode.Parse(seed["model.safetensors.index.json"])!;
        var summary = Campaign().Run(Enumerable.Range(0, HostileScale.Cases(600)).Select(_ =>
        {
            var (bytes, damage) = HostileJson.Mutate(index, random);
            return new HostileCase(damage, seed).With("model.safetensors.index.json", bytes, damage);
        }));
        Assert.True(summary.Refused.Count > 0, summary.ToString());
    }

    private HostileCampaign Campaign() => new("safetensors index", output)
    {
        Load = folder => ModelLoader.Load(folder),
        Exercise = model => ModelUse.Generate(model),
        AllowedErrorIds = new HashSet<string> { "ModelFormatInvalid", "ModelNotSupported", "ModelNotFound" },
    };
}
