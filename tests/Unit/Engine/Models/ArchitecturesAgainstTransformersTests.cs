using Xunit.Abstractions;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// The families llama.cpp cannot check, against a float64 transcription of transformers' modeling code
/// (tools/arch-fixtures/torch_reference.py): GPT-J, which llama.cpp neither converts nor runs, and Mistral's sliding
/// window, which llama.cpp's converter drops. Same prompt ids, logits within 1e-3 of their range, same greedy tokens.
/// </summary>
public sealed class ArchitecturesAgainstTransformersTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mistral")]
    [InlineData("gptj")]
    public void HuggingFaceFolderMatchesTransformers(string family)
    {
        using var model = ModelLoader.Load(RepoPaths.ArchitectureFixture(family));
        ArchitectureReference.AssertMatches(model, ArchitectureReference.Read(family, "transformers"), output);
    }

    [Fact]
    public void MistralsWindowChangesWhatIsGenerated()
    {
        // Otherwise the window would go untested: the fixture's window must be shorter than its prompts and answers.
        var windowed = ArchitectureReference.Read("mistral", "transformers");
        var full = ArchitectureReference.Read("mistral", "llama-cpp");
        Assert.Contains(windowed.Zip(full), pair => !pair.First.Greedy.SequenceEqual(pair.Second.Greedy));
    }
}
