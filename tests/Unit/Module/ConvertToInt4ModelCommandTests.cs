using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class ConvertToInt4ModelCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-convert-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void ConvertsFromThePipelineAndTheFileLoadsWithImportModel()
    {
        var result = _ps.Run("""
            Import-Model | ConvertTo-Int4Model -Destination "$d/a.llmc" -GroupSize 32
            Import-Model "$d/a.llmc" | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 8 -Seed 1
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversion = Assert.IsType<Int4ConversionResult>(result.Output[0].BaseObject);
        Assert.Equal("Q4 g32 sym", conversion.Format);
        Assert.True(conversion.FileSizeBytes < conversion.SourceFileSizeBytes);
        Assert.Equal(8, ((LlmCpu.Engine.Runtime.GenerationResult)result.Output[1].BaseObject).GeneratedTokens);
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        using var converted = ModelLoader.Load(Path.Combine(_dir, "a.llmc"));
        GreedyAgreement.AssertAgrees(original, converted, original.Tokenizer.Encode("Mr. Darcy", addBos: true), 24);
    }

    [Fact]
    public void WhatIfWritesNothing()
    {
        var result = _ps.Run("ConvertTo-Int4Model -Path (Import-Model).Path -Destination \"$d/w.llmc\" -WhatIf", new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void AnExistingDestinationNeedsForce()
    {
        File.WriteAllText(Path.Combine(_dir, "x.llmc"), "old");
        var result = _ps.Run("ConvertTo-Int4Model -Path (Import-Model).Path -Destination \"$d/x.llmc\"", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("DestinationExists,LlmCpu.Module.Commands.ConvertToInt4ModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceExists, error.CategoryInfo.Category);
        result = _ps.Run("ConvertTo-Int4Model -Path (Import-Model).Path -Destination \"$d/x.llmc\" -Force", new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        Assert.NotEqual("old", File.ReadAllText(Path.Combine(_dir, "x.llmc")).Substring(0, 3));
    }

    [Fact]
    public void ADamagedFileIsModelFormatInvalidOnImport()
    {
        _ps.Run("Import-Model | ConvertTo-Int4Model -Destination \"$d/c.llmc\"", new Dictionary<string, object?> { ["d"] = _dir });
        string path = Path.Combine(_dir, "c.llmc");
        using (var stream = new FileStream(path, FileMode.Open)) { stream.Position = 5000; stream.WriteByte(0xEE); }
        var result = _ps.Run("Import-Model \"$d/c.llmc\"", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelFormatInvalid,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Contains("checksum", error.Exception.Message);
    }
}
