using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class ConvertToGgufCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-gguf-cmd-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void AnInt4G32ModelRoundTripsThroughQ4_0WithTheSameTokens()
    {
        var result = _ps.Run("""
            $q = Import-Model -Precision Int4 -GroupSize 32
            $q | ConvertTo-Gguf "$d/a.gguf" -Type Q4_0 | Import-Model | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 16
            $q | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 16
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var fromGguf = (GenerationResult)result.Output[0].BaseObject;
        var original = (GenerationResult)result.Output[1].BaseObject;
        Assert.Equal(original.TokenIds, fromGguf.TokenIds);
    }

    [Fact]
    public void ModelsLoadedFromLlmcAndGgufExportWithTheVocabularyTheyHold()
    {
        // No tokenizer.model beside these files: the vocabulary comes from the loaded model itself.
        var result = _ps.Run("""
            Import-Model | ConvertTo-Int4Model "$d/a.llmc" -GroupSize 32 -OutputProjection Float16 | Out-Null
            Import-Model "$d/a.llmc" | ConvertTo-Gguf "$d/b.gguf" -Type Q4_0 | Out-Null
            Import-Model "$d/b.gguf" | ConvertTo-Gguf "$d/c.gguf" -Type Q4_0 | Out-Null
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        using var llmc = ModelLoader.Load(Path.Combine(_dir, "a.llmc"));
        using var b = ModelLoader.Load(Path.Combine(_dir, "b.gguf"));
        using var c = ModelLoader.Load(Path.Combine(_dir, "c.gguf"));
        var reference = FixtureReference.Load();
        foreach (var prompt in reference.Prompts)
        {
            Assert.Equal(prompt.Ids, b.Tokenizer.Encode(prompt.Text, addBos: true));
            Assert.Equal(prompt.Ids, c.Tokenizer.Encode(prompt.Text, addBos: true));
        }
        // INT4 g32 to Q4_0 and back is exact: the three compute the same logits.
        var ids = reference.Prompts[0].Ids;
        float[] Logits(LanguageModel model)
        {
            using var session = new InferenceSession(model, LlmCpu.Kernels.Threading.WorkerPool.Shared);
            return session.Prefill(ids).ToArray();
        }
        var expected = Logits(llmc);
        Assert.Equal(expected, Logits(b));
        Assert.Equal(expected, Logits(c));
    }

    [Fact]
    public void AnExistingDestinationNeedsForce()
    {
        File.WriteAllText(Path.Combine(_dir, "x.gguf"), "old");
        var result = _ps.Run("Import-Model | ConvertTo-Gguf \"$d/x.gguf\"", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("DestinationExists,LlmCpu.Module.Commands.ConvertToGgufCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceExists, error.CategoryInfo.Category);
        Assert.Equal("old", File.ReadAllText(Path.Combine(_dir, "x.gguf")));
    }
}
