using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class ImportModelCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-import-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void WithoutAPathLoadsTheBundledModel()
    {
        var result = _ps.Run("Import-Model");
        Assert.Empty(result.Errors);
        var model = Assert.IsType<LanguageModel>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("austen-llama", model.Name);
        Assert.Equal("llama", model.Architecture);
        Assert.True(model.Parameters > 8_000_000);
        Assert.True(model.FileSizeBytes > 0);
        Assert.StartsWith(Path.Combine(AppContext.BaseDirectory, "Modules", "LlmCpu"), model.Path);
    }

    [Fact]
    public void LoadsAFolderGivenByPathAndFromThePipeline()
    {
        var result = _ps.Run("$p | Import-Model; Import-Model -Path $p; Import-Model -LiteralPath $p",
            new Dictionary<string, object?> { ["p"] = RepoPaths.FixtureModel });
        Assert.Empty(result.Errors);
        Assert.Equal(3, result.Output.Count);
        Assert.All(result.Output, o => Assert.IsType<LanguageModel>(o.BaseObject));
    }

    [Fact]
    public void AMissingPathIsModelNotFound()
    {
        var result = _ps.Run("Import-Model -Path (Join-Path $d 'nothing-here')".Replace("(Join-Path $d 'nothing-here')", "\"$d/nothing-here\""),
            new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelNotFound,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }

    [Fact]
    public void ADamagedModelIsModelFormatInvalidNamingFileAndField()
    {
        string folder = Path.Combine(_dir, "damaged");
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(RepoPaths.FixtureModel)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        // Cut the weights file short: the last tensors' byte ranges now run past its end.
        string weights = Path.Combine(folder, "model.safetensors");
        using (var stream = new FileStream(weights, FileMode.Open)) stream.SetLength(stream.Length / 2);

        var result = _ps.Run("Import-Model -Path $p", new Dictionary<string, object?> { ["p"] = folder });
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelFormatInvalid,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.Equal(weights, error.TargetObject);
        Assert.Contains("data_offsets", error.Exception.Message);
    }

    [Fact]
    public void LoadsAGgufFile()
    {
        string path = TinyLlamaGguf.Create().Write(Path.Combine(_dir, "tiny.gguf"));
        var result = _ps.Run("Import-Model -Path $p", new Dictionary<string, object?> { ["p"] = path });
        Assert.Empty(result.Errors);
        var model = Assert.IsType<LanguageModel>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("tiny", model.Name);
        Assert.Equal(path, model.Path);
    }

    [Fact]
    public void ADamagedGgufIsModelFormatInvalidNamingFileAndField()
    {
        // Cut short: the last tensor's bytes now run past the end of the file.
        var writer = TinyLlamaGguf.Create();
        writer.TruncateBy = 1000;
        string path = writer.Write(Path.Combine(_dir, "damaged.gguf"));
        var result = _ps.Run("Import-Model -Path $p", new Dictionary<string, object?> { ["p"] = path });
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelFormatInvalid,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.Equal(path, error.TargetObject);
        Assert.Contains("tensor 'output.weight' offset", error.Exception.Message);
    }

    [Fact]
    public void AnUnsupportedArchitectureIsModelNotSupported()
    {
        string folder = Path.Combine(_dir, "gpt2");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), """{"architectures":["GPT2LMHeadModel"],"n_embd":64}""");
        var result = _ps.Run("Import-Model -Path $p", new Dictionary<string, object?> { ["p"] = folder });
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelNotSupported,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Contains("architectures", error.Exception.Message);
    }

    [Fact]
    public void OneBadPathDoesNotStopTheOthers()
    {
        var result = _ps.Run("Import-Model -Path $bad, $good", new Dictionary<string, object?> { ["bad"] = Path.Combine(_dir, "none"), ["good"] = RepoPaths.FixtureModel });
        Assert.Single(result.Errors);
        Assert.Single(result.Output);
    }
}
