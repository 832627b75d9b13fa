using System.Text.Json;
using Xunit.Abstractions;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Reference outputs of one architecture fixture (fixtures/arch/FAMILY, made by tools/arch-fixtures): for each prompt,
/// its token ids (BOS first), the first-step logits and 16 greedy tokens, from llama.cpp (llama-cpp.jsonl) or from the
/// transcription of transformers' code (transformers.jsonl).
/// </summary>
public sealed record ArchitectureReference(string Prompt, int[] PromptIds, int[] Greedy, float[] Logits)
{
    /// <summary>Every architecture fixture.</summary>
    public static readonly string[] Families = ["llama3", "mistral", "qwen2", "gptneox", "falcon-7b", "falcon-40b", "gptj"];

    /// <summary>Families with llama.cpp outputs.</summary>
    public static readonly string[] LlamaCppFamilies = ["llama3", "mistral", "qwen2", "gptneox", "falcon-7b", "falcon-40b"];

    /// <summary>Families and the files the engine reads them from, for test data: (family, "hf" or "gguf").</summary>
    public static TheoryData<string, string> LlamaCppCases()
    {
        var data = new TheoryData<string, string>();
        foreach (string family in LlamaCppFamilies)
        {
            // llama.cpp runs Mistral's GGUF with full attention; the Hugging Face folder asks for the window, so it is
            // compared with the transcription of transformers instead.
            if (family != "mistral") data.Add(family, "hf");
            data.Add(family, "gguf");
        }
        return data;
    }

    public static string ModelPath(string family, string file) =>
        file == "gguf" ? Path.Combine(RepoPaths.ArchitectureFixture(family), "model-f32.gguf") : RepoPaths.ArchitectureFixture(family);

    public static IReadOnlyList<ArchitectureReference> Read(string family, string source)
    {
        string path = Path.Combine(RepoPaths.ArchitectureFixture(family), source + ".jsonl");
        return File.ReadAllLines(path).Where(l => l.Length > 0).Select(line =>
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            int[] Ints(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray();
            return new ArchitectureReference(root.GetProperty("prompt").GetString()!, Ints("promptIds"), Ints("greedy"),
                root.GetProperty("logits").EnumerateArray().Select(e => e.GetSingle()).ToArray());
        }).ToList();
    }

    /// <summary>Prompt ids, first-step logits within 1e-3 of their range, greedy tokens; the check every architecture test makes.</summary>
    public static void AssertMatches(LanguageModel model, IReadOnlyList<ArchitectureReference> references, ITestOutputHelper? output = null)
    {
        Assert.NotEmpty(references);
        foreach (var reference in references)
        {
            Assert.Equal(reference.PromptIds, model.Tokenizer.Encode(reference.Prompt, addBos: true));
            using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: 64);
            var logits = session.Prefill(reference.PromptIds).ToArray();
            Assert.Equal(reference.Logits.Length, logits.Length);
            float range = reference.Logits.Max() - reference.Logits.Min();
            float error = logits.Zip(reference.Logits, (a, b) => MathF.Abs(a - b)).Max();
            output?.WriteLine($"'{reference.Prompt}': max |logit - reference| = {error:G3}, {error / range:E2} of the range {range:F2}");
            Assert.True(error <= 1e-3f * range, $"'{reference.Prompt}': max |logit - reference| = {error}, {error / range:E2} of the range {range}");

            var tokens = new List<int>();
            for (int next = ArgMax(logits); tokens.Count < reference.Greedy.Length; next = ArgMax(session.Decode(next)))
                tokens.Add(next);
            Assert.Equal(reference.Greedy, tokens);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
