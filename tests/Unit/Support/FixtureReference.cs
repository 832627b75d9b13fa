using System.Text.Json;

namespace LlmCpu.Tests.Support;

/// <summary>Outputs of the PyTorch reference implementation for the fixture model (fixtures/austen-llama/reference.json).</summary>
public sealed class FixtureReference
{
    public sealed record Prompt(string Text, int[] Ids, float[] FirstLogits, int[] Greedy, string GreedyText);

    public required IReadOnlyList<Prompt> Prompts { get; init; }

    public static FixtureReference Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "reference.json")));
        var prompts = document.RootElement.GetProperty("prompts").EnumerateArray().Select(p => new Prompt(
            p.GetProperty("text").GetString()!,
            p.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            p.GetProperty("first_logits").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            p.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            p.GetProperty("greedy_text").GetString()!)).ToArray();
        return new FixtureReference { Prompts = prompts };
    }

    public static IEnumerable<object[]> PromptIndices() => Enumerable.Range(0, Load().Prompts.Count).Select(i => new object[] { i });
}

/// <summary>The fixture model, loaded once for all tests of a class.</summary>
public sealed class FixtureModel : IDisposable
{
    public LlmCpu.Engine.Models.LanguageModel Model { get; } = LlmCpu.Engine.Models.ModelLoader.Load(RepoPaths.FixtureModel);

    public FixtureReference Reference { get; } = FixtureReference.Load();

    public void Dispose() => Model.Dispose();
}
