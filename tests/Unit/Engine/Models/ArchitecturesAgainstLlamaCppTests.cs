using Xunit.Abstractions;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Each family's tiny random model, read from its Hugging Face folder and from the GGUF llama.cpp's converter made of
/// it, against llama.cpp's own outputs: the same prompt ids, first-step logits within 1e-3 of the logit range, the
/// same 16 greedy tokens. (llama.cpp keeps keys and values in F16 and rounds GELU's input to F16; that is most of the
/// difference left, about 4e-4 of the range.)
/// </summary>
public sealed class ArchitecturesAgainstLlamaCppTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases() => ArchitectureReference.LlamaCppCases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesLlamaCpp(string family, string file)
    {
        using var model = ModelLoader.Load(ArchitectureReference.ModelPath(family, file));
        ArchitectureReference.AssertMatches(model, ArchitectureReference.Read(family, "llama-cpp"), output);
    }
}
