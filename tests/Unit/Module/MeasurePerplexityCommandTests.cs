using System.Management.Automation;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class MeasurePerplexityCommandTests : IDisposable
{
    private static readonly string HeldOutPath = TestTexts.HeldOutPath;

    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-perplexity-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private Dictionary<string, object?> Variables => new() { ["text"] = HeldOutPath, ["d"] = _dir };

    [Fact]
    public void AFileAndTheSameTextGiveTheSameFigures()
    {
        // -Path reads the file less its final line feed, as llama-perplexity reads -f; -Text takes the string as given.
        var result = _ps.Run("""
            $m = Import-Model
            $m | Measure-Perplexity -Path $text -ContextLength 128 -Threads 1
            Measure-Perplexity $m -Text ([IO.File]::ReadAllText($text).TrimEnd("`n")) -ContextLength 128
            """, Variables);
        Assert.Empty(result.Errors);
        var fromFile = Assert.IsType<PerplexityResult>(result.Output[0].BaseObject);
        var fromText = Assert.IsType<PerplexityResult>(result.Output[1].BaseObject);
        Assert.Equal(HeldOutPath, fromFile.Source);
        Assert.Null(fromText.Source);
        Assert.Equal(fromFile.TextTokens, fromText.TextTokens);
        Assert.Equal(fromFile.Perplexity, fromText.Perplexity, 1e-9);
        Assert.Equal(128, fromFile.ContextLength);
        Assert.Equal(fromFile.Windows * 63, fromFile.Tokens);
    }

    [Fact]
    public void FilesFromThePipelineAreMeasuredOneByOne()
    {
        var result = _ps.Run("""
            $lines = Get-Content $text
            Set-Content "$d/first.txt" -Value $lines[0..7]
            Set-Content "$d/second.txt" -Value $lines[8..15]
            $m = Import-Model
            Get-ChildItem $d -Filter *.txt | Sort-Object Name | Measure-Perplexity -Model $m -ContextLength 64
            """, Variables);
        Assert.Empty(result.Errors);
        var results = result.Output.Select(o => Assert.IsType<PerplexityResult>(o.BaseObject)).ToArray();
        Assert.Equal([Path.Combine(_dir, "first.txt"), Path.Combine(_dir, "second.txt")], results.Select(r => r.Source));
        Assert.NotEqual(results[0].Perplexity, results[1].Perplexity);
    }

    [Fact]
    public void AReferenceGivesTheKlFigures()
    {
        var result = _ps.Run("""
            $f16 = Import-Model
            Import-Model -Precision Int4 | Measure-Perplexity -Path $text -Reference $f16 -ContextLength 128
            """, Variables);
        Assert.Empty(result.Errors);
        var r = Assert.IsType<PerplexityResult>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("austen-llama", r.Reference);
        Assert.True(r.KLDivergence > 0 && r.KLDivergenceP99 > r.KLDivergence);
        Assert.True(r.SameTopTokenRate is > 0.5 and < 1);
        Assert.NotNull(r.PerplexityRatio);
        Assert.NotNull(r.RmsProbabilityDelta);
    }

    [Fact]
    public void TooShortATextIsAnInvalidArgumentThatNamesTheMinimum()
    {
        var result = _ps.Run("Import-Model | Measure-Perplexity -Text 'It is a truth universally acknowledged.'");
        var error = Assert.Single(result.Errors);
        Assert.Equal("GenerationArgumentInvalid,LlmCpu.Module.Commands.MeasurePerplexityCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains("256 tokens", error.Exception.Message);
    }

    [Fact]
    public void AReferenceWithAnotherVocabularyIsVocabularyMismatch()
    {
        // The bundled tokenizer over 4160 rows of embedding and output: a vocabulary the bundled model does not have.
        string other = Path.Combine(_dir, "other.gguf");
        SyntheticGgufWriter.Write(new SyntheticShape("wider vocabulary", 64, 1, 4, 4, 128, 4160, 256), other, GgmlType.F16,
            File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model")), seed: 1, overwrite: false);
        var result = _ps.Run("Import-Model | Measure-Perplexity -Path $text -Reference (Import-Model \"$d/other.gguf\")", Variables);
        var error = Assert.Single(result.Errors);
        Assert.Equal("VocabularyMismatch,LlmCpu.Module.Commands.MeasurePerplexityCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [Fact]
    public void AMissingFileIsTextNotFound()
    {
        var result = _ps.Run("Import-Model | Measure-Perplexity -Path \"$d/none.txt\"", Variables);
        var error = Assert.Single(result.Errors);
        Assert.Equal("TextNotFound,LlmCpu.Module.Commands.MeasurePerplexityCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }

    [Fact]
    public void ARemovedModelIsModelDisposed()
    {
        var result = _ps.Run("$m = Import-Model; $m | Remove-Model; $m | Measure-Perplexity -Path $text", Variables);
        Assert.Equal("ModelDisposed,LlmCpu.Module.Commands.MeasurePerplexityCommand", Assert.Single(result.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void AContextLengthTooSmallFailsValidation()
    {
        var result = _ps.Run("Import-Model | Measure-Perplexity -Text x -ContextLength 2");
        var error = Assert.Single(result.Errors);
        Assert.Equal("ParameterArgumentValidationError,LlmCpu.Module.Commands.MeasurePerplexityCommand", error.FullyQualifiedErrorId);
        Assert.Equal("ContextLength", Assert.IsAssignableFrom<ParameterBindingException>(error.Exception).ParameterName);
    }
}
