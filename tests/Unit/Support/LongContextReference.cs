using System.Text.Json;

namespace LlmCpu.Tests.Support;

/// <summary>
/// PyTorch reference outputs deep into the fixture's context (fixtures/austen-llama/reference-long.json, written by
/// tools/fixture-model/export_reference.py): a whole 256-token window of held-out text with the loss at every position,
/// and prompts longer than one prefill chunk with their greedy continuations up to the end of the context.
/// </summary>
public sealed class LongContextReference
{
    public sealed record Window(string Text, int[] Ids, double[] Nll, double Perplexity, int SecondHalfStart, double SecondHalfPerplexity,
        int[] Argmax, double[] ArgmaxMargin, IReadOnlyDictionary<int, float[]> LogitsAt);

    public sealed record Prompt(string Text, int[] Ids, float[] FirstLogits, int[] Greedy, double[] GreedyMargin);

    public required Window HeldOut { get; init; }

    public required IReadOnlyList<Prompt> Prompts { get; init; }

    public static LongContextReference Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "reference-long.json")));
        var root = document.RootElement;
        var w = root.GetProperty("window");
        var window = new Window(
            w.GetProperty("text").GetString()!,
            Ints(w.GetProperty("ids")),
            Doubles(w.GetProperty("nll")),
            w.GetProperty("perplexity").GetDouble(),
            w.GetProperty("second_half_start").GetInt32(),
            w.GetProperty("second_half_perplexity").GetDouble(),
            Ints(w.GetProperty("argmax")),
            Doubles(w.GetProperty("argmax_margin")),
            w.GetProperty("logits_at").EnumerateArray().ToDictionary(e => e.GetProperty("position").GetInt32(), e => Floats(e.GetProperty("logits"))));
        var prompts = root.GetProperty("long_prompts").EnumerateArray().Select(p => new Prompt(
            p.GetProperty("text").GetString()!,
            Ints(p.GetProperty("ids")),
            Floats(p.GetProperty("first_logits")),
            Ints(p.GetProperty("greedy")),
            Doubles(p.GetProperty("greedy_margin")))).ToArray();
        return new LongContextReference { HeldOut = window, Prompts = prompts };
    }

    public static IEnumerable<object[]> PromptIndices() => Enumerable.Range(0, Load().Prompts.Count).Select(i => new object[] { i });

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();
}
