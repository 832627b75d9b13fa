using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>
/// Every family through the cmdlets as a user runs it: Import-Model | Invoke-Generation on the Hugging Face folder gives
/// the reference's greedy tokens, and ConvertTo-Int4Model makes an INT4 file that imports and generates.
/// </summary>
public sealed class ArchitecturesThroughCmdletsTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-arch-cmdlets-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string> Families() => new(ArchitectureReference.Families);

    [Theory]
    [MemberData(nameof(Families))]
    public void ImportsGeneratesAndConverts(string family)
    {
        var reference = ArchitectureReference.Read(family, family is "mistral" or "gptj" ? "transformers" : "llama-cpp")[0];
        string destination = Path.Combine(_dir, family + ".llmc");
        var result = _ps.Run("""
            Import-Model -Path $path | Invoke-Generation -Prompt $prompt -Temperature 0 -MaxTokens 16
            ConvertTo-Int4Model -Path $path -Destination $destination -GroupSize 32 | Out-Null
            Import-Model -Path $destination | Invoke-Generation -Prompt $prompt -MaxTokens 4 -Seed 1
            """, new Dictionary<string, object?>
        {
            ["path"] = RepoPaths.ArchitectureFixture(family), ["prompt"] = reference.Prompt, ["destination"] = destination,
        });
        Assert.Empty(result.Errors);
        Assert.Equal(2, result.Output.Count);
        var greedy = Assert.IsType<GenerationResult>(result.Output[0].BaseObject);
        // Generation stops at the end-of-sequence id (2), which the reference's 16 tokens run through.
        Assert.Equal(reference.Greedy.TakeWhile(id => id != 2), greedy.TokenIds);
        var quantized = Assert.IsType<GenerationResult>(result.Output[1].BaseObject);
        Assert.True(quantized.GeneratedTokens > 0);
    }
}
