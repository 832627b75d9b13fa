using System.Diagnostics;
using System.Management.Automation;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Module;

/// <summary>
/// Prompts and parameters at their extremes, through the cmdlets as a script would pass them: each gives a result or
/// one clear error with a stable ErrorId, in bounded time, and the model keeps working afterwards.
/// </summary>
public sealed class GenerationExtremesTests(ITestOutputHelper output) : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    /// <summary>Longest a case may take: the 1 MB prompt is tokenized in full before it is refused.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static TheoryData<string, string, string?> Cases() => new()
    {
        // case, arguments after "Invoke-Generation -Model $m", ErrorId expected (null: a result)
        { "empty prompt (BOS alone is continued)", "-Prompt '' -MaxTokens 2 -Seed 1", null },
        { "whitespace-only prompt", "-Prompt \"  `t`n \" -MaxTokens 2 -Seed 1", null },
        { "prompt longer than the context", "-Prompt ('word ' * 5000) -MaxTokens 1", "GenerationArgumentInvalid" },
        { "1 MB of one character", "-Prompt ('a' * 1MB) -MaxTokens 1", "GenerationArgumentInvalid" },
        { "lone surrogates", "-Prompt \"`u{D800}x`u{DFFF}y`u{DBFF}\" -MaxTokens 2 -Seed 1", null },
        { "special tokens written as text", "-Prompt '<s></s><unk><pad><0x41><0xZZ>▁' -MaxTokens 2 -Seed 1", null },
        { "temperature 0", "-Prompt 'She was' -Temperature 0 -MaxTokens 2", null },
        { "temperature 100 (the largest)", "-Prompt 'She was' -Temperature 100 -MaxTokens 2 -Seed 1", null },
        { "temperature 1e6", "-Prompt 'She was' -Temperature 1e6 -MaxTokens 2", "ParameterArgumentValidationError" },
        { "negative temperature", "-Prompt 'She was' -Temperature -1 -MaxTokens 2", "ParameterArgumentValidationError" },
        { "top-p 0", "-Prompt 'She was' -TopP 0 -MaxTokens 2 -Seed 1", null },
        { "top-p 1", "-Prompt 'She was' -TopP 1 -TopK 0 -MaxTokens 2 -Seed 1", null },
        { "top-k 1", "-Prompt 'She was' -TopK 1 -MaxTokens 2 -Seed 1", null },
        { "max tokens 0", "-Prompt 'She was' -MaxTokens 0", null },
        { "threads above the core count", "-Prompt 'She was' -Threads 64 -MaxTokens 2 -Seed 1", null },
        { "threads 0 (all cores)", "-Prompt 'She was' -Threads 0 -MaxTokens 2 -Seed 1", null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachGivesAResultOrOneClearError(string name, string arguments, string? errorId)
    {
        var clock = Stopwatch.StartNew();
        var result = _ps.Run($"$m = Import-Model; Invoke-Generation -Model $m {arguments}");
        output.WriteLine($"{name}: {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(clock.Elapsed < Bound, $"{name} took {clock.Elapsed}");
        if (errorId == null)
        {
            Assert.Empty(result.Errors);
            var generation = Assert.IsType<GenerationResult>(Assert.Single(result.Output).BaseObject);
            Assert.NotNull(generation.Text);
        }
        else
        {
            var error = Assert.Single(result.Errors);
            Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId);
            Assert.NotEqual("InternalError", error.FullyQualifiedErrorId.Split(',')[0]);
            Assert.Empty(result.Output);
        }
        // The model still works after whatever happened.
        var after = _ps.Run("Invoke-Generation -Model $m -Prompt 'She was' -MaxTokens 2 -Temperature 0");
        Assert.Empty(after.Errors);
        Assert.Equal(2, ((GenerationResult)Assert.Single(after.Output).BaseObject).GeneratedTokens);
    }

    [Fact]
    public void ATokenizerThatBacktracksCatastrophicallyIsStoppedWithTokenizerTimeout()
    {
        string path = BacktrackingTokenizerModel.Write();
        try
        {
            var clock = Stopwatch.StartNew();
            var result = _ps.Run("Import-Model -LiteralPath $p | Invoke-Generation -Prompt $t -MaxTokens 1",
                new Dictionary<string, object?> { ["p"] = path, ["t"] = BacktrackingTokenizerModel.Trap });
            Assert.True(clock.Elapsed < Bound, $"took {clock.Elapsed}");
            var error = Assert.Single(result.Errors);
            Assert.StartsWith("TokenizerTimeout,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.LimitsExceeded, error.CategoryInfo.Category);
            Assert.Empty(result.Output);
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }

    [Fact]
    public void MaxTokensZeroGeneratesNothing()
    {
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt 'She was' -MaxTokens 0");
        var generation = (GenerationResult)Assert.Single(result.Output).BaseObject;
        Assert.Equal(0, generation.GeneratedTokens);
        Assert.Equal("", generation.Text);
    }

    [Theory]
    [InlineData(128)]
    [InlineData(64)]
    public void AGroupSizeThatDoesNotDivideTheRowGivesAWorkingModelOrOneClearError(int groupSize)
    {
        // The tiny model's rows are 64 and 128 values long: 128 does not divide the 64-wide ones; 64 divides all.
        string folder = Directory.CreateTempSubdirectory("llmcpu-groups-").FullName;
        try
        {
            foreach (var (name, bytes) in TinyModel.HuggingFaceFolder()) File.WriteAllBytes(Path.Combine(folder, name), bytes);
            string destination = Path.Combine(folder, "out.llmc");
            var result = _ps.Run($"ConvertTo-Int4Model -Path $src -Destination $dst -GroupSize {groupSize}",
                new Dictionary<string, object?> { ["src"] = folder, ["dst"] = destination });
            Assert.Empty(Directory.GetFiles(folder, "*.partial", new EnumerationOptions { AttributesToSkip = 0 }));
            if (result.Errors.Count > 0)
            {
                var error = Assert.Single(result.Errors);
                output.WriteLine($"group size {groupSize}: {error.FullyQualifiedErrorId}: {error.Exception.Message}");
                Assert.NotEqual("InternalError", error.FullyQualifiedErrorId.Split(',')[0]);
                Assert.False(File.Exists(destination));
                return;
            }
            var run = _ps.Run("Import-Model -LiteralPath $dst | Invoke-Generation -Prompt 'She was' -MaxTokens 2 -Temperature 0",
                new Dictionary<string, object?> { ["dst"] = destination });
            Assert.Empty(run.Errors);
            var generation = (GenerationResult)Assert.Single(run.Output).BaseObject;
            output.WriteLine($"group size {groupSize}: converted; {generation.GeneratedTokens} tokens generated");
            Assert.Equal(2, generation.GeneratedTokens);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
