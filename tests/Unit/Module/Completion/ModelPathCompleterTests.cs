using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module.Completion;

/// <summary>Tab completion of model paths: folders and model files, not other files, on every parameter that takes a model path.</summary>
public sealed class ModelPathCompleterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-complete-").FullName;
    private readonly PowerShellSession _ps = new();

    public ModelPathCompleterTests()
    {
        foreach (var name in new[] { "tiny.gguf", "tiny-int4.llmc", "NOTES.GGUF", "notes.txt", "weights.bin" }) File.WriteAllText(Path.Combine(_dir, name), "");
        Directory.CreateDirectory(Path.Combine(_dir, "hf-model"));
    }

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("Import-Model ./")]
    [InlineData("Import-Model -LiteralPath ./")]
    [InlineData("Measure-TokenLatency -Path ./")]
    [InlineData("ConvertTo-Int4Model -Path ./")]
    public void OffersFoldersAndModelFilesOnly(string line)
    {
        var result = _ps.Run("Set-Location -LiteralPath $d; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.ListItemText",
            new Dictionary<string, object?> { ["d"] = _dir, ["line"] = line });
        Assert.Empty(result.Errors);
        var offered = result.Output.Select(o => o.ToString()).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["NOTES.GGUF", "hf-model", "tiny-int4.llmc", "tiny.gguf"], offered);
    }

    [Fact]
    public void CompletesAPartialName()
    {
        string line = "Import-Model ./tiny-";
        var result = _ps.Run("Set-Location -LiteralPath $d; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText",
            new Dictionary<string, object?> { ["d"] = _dir, ["line"] = line });
        Assert.Equal(["./tiny-int4.llmc"], result.Output.Select(o => o.ToString()));
    }
}
