using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
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
    public void ALoadedModelIsConvertedAsItIsHeld()
    {
        // Already INT4 g32: kept exactly, so the file computes exactly what the object in memory computes.
        var result = _ps.Run("""
            $m = Import-Model -Precision Int4 -GroupSize 32
            $m | ConvertTo-Int4Model "$d/kept.llmc" -GroupSize 32 -OutputProjection Float16 3>&1
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversion = Assert.IsType<Int4ConversionResult>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("Q4 g32 sym", conversion.Format);
        var inMemory = (LanguageModel)((PSObject)_ps.GetVariable("m")!).BaseObject;
        using var fromFile = ModelLoader.Load(Path.Combine(_dir, "kept.llmc"));
        var ids = inMemory.Tokenizer.Encode("It is a truth universally acknowledged", addBos: true);
        using var a = new InferenceSession(inMemory, WorkerPool.Shared);
        using var b = new InferenceSession(fromFile, WorkerPool.Shared);
        Assert.Equal(a.Prefill(ids).ToArray(), b.Prefill(ids).ToArray());
    }

    [Fact]
    public void TheOutputProjectionIsInt4ByDefaultAndStaysCloseToTheOriginal()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/out.llmc\"; Import-Model | ConvertTo-Int4Model \"$d/f16.llmc\" -OutputProjection Float16",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        using var int4Output = ModelLoader.Load(Path.Combine(_dir, "out.llmc"));
        using var f16Output = ModelLoader.Load(Path.Combine(_dir, "f16.llmc"));
        Assert.Equal(new Int4Format(32, true), Assert.IsType<Int4Matrix>(int4Output.Weights.Output).Int4Format);
        Assert.IsType<LlmCpu.Kernels.MatMul.Float16Matrix>(f16Output.Weights.Output);
        Assert.IsType<LlmCpu.Kernels.MatMul.Float16Matrix>(int4Output.Weights.TokenEmbedding);
        Assert.Equal("embedding F16, output Q4 g32 asym", int4Output.Quantization!.EdgePrecision);
        // Decode reads fewer bytes; the clear choices stay the same.
        Assert.True(int4Output.WeightBytes - int4Output.Weights.TokenEmbedding.ByteSize < 0.9 * (f16Output.WeightBytes - f16Output.Weights.TokenEmbedding.ByteSize));
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        foreach (var prompt in FixtureReference.Load().Prompts) GreedyAgreement.AssertAgrees(original, int4Output, prompt.Ids, 24);
    }

    [Fact]
    public void AnInt8OutputProjectionIsQ8_0AndMappedFromTheFile()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/q8.llmc\" -OutputProjection Int8", new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversion = Assert.IsType<Int4ConversionResult>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("Q8_0", conversion.OutputFormat);
        using var model = ModelLoader.Load(Path.Combine(_dir, "q8.llmc"));
        var output = Assert.IsType<Q8Matrix>(model.Weights.Output);
        Assert.Equal(0, output.OwnedBytes);
        Assert.Equal("embedding F16, output Q8_0", model.Quantization!.EdgePrecision);
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        foreach (var prompt in FixtureReference.Load().Prompts) GreedyAgreement.AssertAgrees(original, model, prompt.Ids, 24);
    }

    [Fact]
    public void QuantizingAgainWarnsFromAnObjectAndFromAPath()
    {
        var result = _ps.Run("""
            $m = Import-Model -Precision Int4 -GroupSize 32
            $m | ConvertTo-Int4Model "$d/g128.llmc" -GroupSize 128 3>&1
            $m | ConvertTo-Int4Model "$d/g32.llmc" -GroupSize 32
            ConvertTo-Int4Model -Path "$d/g32.llmc" -Destination "$d/g64.llmc" -GroupSize 64 3>&1
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var warnings = result.Output.Select(o => o.BaseObject).OfType<WarningRecord>().ToArray();
        Assert.Equal(2, warnings.Length);
        Assert.All(warnings, w => Assert.Contains("quantized again", w.Message));
        Assert.Contains("Q4 g32 sym", warnings[0].Message);
        var conversions = result.Output.Select(o => o.BaseObject).OfType<Int4ConversionResult>().ToArray();
        // A model object converts as the object, not reloaded from its path.
        Assert.Equal(Path.Combine(_dir, "g32.llmc"), conversions[2].Source);
        var formats = conversions.Select(c => c.Format).ToArray();
        Assert.Equal(["Q4 g128 sym", "Q4 g32 sym", "Q4 g64 sym"], formats);
        using var g64 = ModelLoader.Load(Path.Combine(_dir, "g64.llmc"));
        Assert.Equal("Q4 g64 sym", g64.Precision);
        Assert.Equal(new Int4Format(64, false), Assert.IsType<Int4Matrix>(g64.Weights.Layers[0].Down).Int4Format);
    }

    [Fact]
    public void AsymmetricAndActivationsAreRecordedInTheFile()
    {
        var result = _ps.Run("""Import-Model | ConvertTo-Int4Model "$d/asym.llmc" -GroupSize 64 -Asymmetric -Activations Float32 -Recipe MinimizeError""",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        using var model = ModelLoader.Load(Path.Combine(_dir, "asym.llmc"));
        var report = model.Quantization!;
        Assert.True(report.Asymmetric);
        Assert.Equal(64, report.GroupSize);
        Assert.Equal("Float32", report.Activations);
        Assert.Equal("minimize-error scale search", report.Recipe);
        var matrix = Assert.IsType<Int4Matrix>(model.Weights.Layers[2].QueryKeyValue);
        Assert.True(matrix.Int4Format.Asymmetric);
        Assert.Equal(64, matrix.Int4Format.GroupSize);
    }

    [Fact]
    public void WhatIfWritesNothing()
    {
        // The destination is positional beside a -Path or a model from the pipeline.
        var result = _ps.Run("ConvertTo-Int4Model -Path (Import-Model).Path \"$d/w.llmc\" -WhatIf; Import-Model | ConvertTo-Int4Model \"$d/v.llmc\" -WhatIf; " +
            "[System.IO.DirectoryInfo]::new((Import-Model).Path) | ConvertTo-Int4Model \"$d/u.llmc\" -WhatIf",
            new Dictionary<string, object?> { ["d"] = _dir });
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
    [Fact]
    public void CalibrationTextShorterThanTheMinimumIsRefusedPointingAtItsFile()
    {
        File.WriteAllText(Path.Combine(_dir, "short.txt"), "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.");
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/x.llmc\" -Recipe Gptq -CalibrationPath \"$d/short.txt\"",
            new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("CalibrationTextTooShort,LlmCpu.Module.Commands.ConvertToInt4ModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Equal(Path.Combine(_dir, "short.txt"), error.TargetObject);
        Assert.Contains($"at least {LlmCpu.Engine.Quantization.CalibrationText.MinimumTokens} tokens", error.Exception.Message);
        Assert.Empty(Directory.GetFiles(_dir, "*.llmc"));
    }

    [Fact]
    public void AMissingCalibrationFileIsTextNotFound()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/x.llmc\" -Recipe Awq -CalibrationPath \"$d/none.txt\"",
            new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("TextNotFound,LlmCpu.Module.Commands.ConvertToInt4ModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void AnUnknownRecipeIsRefusedByParameterBinding()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/x.llmc\" -Recipe Gptx", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.IsAssignableFrom<ParameterBindingException>(error.Exception);
        Assert.StartsWith("CannotConvertArgumentNoMessage,", error.FullyQualifiedErrorId);
        Assert.Contains("Gptq", error.Exception.Message); // the message lists the recipes there are
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void AutoWithoutEvaluationTextAndTeqOnALayoutItCannotFoldIntoAreRefusedWithTheirIds()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/a.llmc\" -Recipe Auto; ConvertTo-Int4Model -Path $p \"$d/t.llmc\" -Recipe Teq",
            new Dictionary<string, object?> { ["d"] = _dir, ["p"] = RepoPaths.ArchitectureFixture("gptneox") });
        Assert.Equal(2, result.Errors.Count);
        Assert.StartsWith("EvaluationTextRequired,", result.Errors[0].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, result.Errors[0].CategoryInfo.Category);
        Assert.StartsWith("RecipeNotImplemented,", result.Errors[1].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.NotImplemented, result.Errors[1].CategoryInfo.Category);
        Assert.Contains("LayerNorms", result.Errors[1].Exception.Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Theory]
    [InlineData("Gptq")]
    [InlineData("SignRound")]
    [InlineData("Teq")]
    [InlineData("Auto")]
    public void ImportModelSaysCalibratedRecipesNeedTheConverter(string recipe)
    {
        var result = _ps.Run($"Import-Model -Precision Int4 -Recipe {recipe}");
        var error = Assert.Single(result.Errors);
        Assert.Equal("RecipeNeedsCalibration,LlmCpu.Module.Commands.ImportModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains($"ConvertTo-Int4Model -Recipe {recipe}", error.Exception.Message);
        Assert.Empty(result.Output);
    }

    /// <summary>One trained recipe through the cmdlet (a conversion takes minutes); the engine's tests run SignRound too.</summary>
    [Fact]
    public void TeqWithACalibrationFileWritesWhatItDidInTheResultAndTheFile()
    {
        File.WriteAllText(Path.Combine(_dir, "calibration.txt"), LlmCpu.Engine.Quantization.CalibrationText.BuiltIn.Text[..6000]);
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/teq.llmc\" -GroupSize 32 -Asymmetric -Recipe Teq -CalibrationPath \"$d/calibration.txt\"",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversion = Assert.Single(result.Output.Select(o => o.BaseObject).OfType<Int4ConversionResult>());
        Assert.Equal("Teq", conversion.Recipe);
        Assert.Equal("Q4 g32 asym teq", conversion.Format);
        Assert.Equal("calibration.txt", conversion.CalibrationText);
        using var model = ModelLoader.Load(Path.Combine(_dir, "teq.llmc"));
        Assert.Equal("TEQ", model.Quantization!.Recipe);
        Assert.Equal("calibration.txt", model.Quantization.CalibrationText);
        var generated = new TextGenerator(model).Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 4, StopAtEos = false, Sampling = SamplingOptions.Greedy });
        Assert.Equal(4, generated.GeneratedTokens);
    }

    [Fact]
    public void GptqWithACalibrationFileWritesWhatItDidInTheResultAndTheFile()
    {
        File.WriteAllText(Path.Combine(_dir, "calibration.txt"), LlmCpu.Engine.Quantization.CalibrationText.BuiltIn.Text[..6000]);
        var result = _ps.Run("""
            Import-Model | ConvertTo-Int4Model "$d/gptq.llmc" -GroupSize 64 -Recipe Gptq -CalibrationPath "$d/calibration.txt" -EvaluationText $t
            """, new Dictionary<string, object?> { ["d"] = _dir, ["t"] = TestTexts.HeldOut });
        Assert.Empty(result.Errors);
        var conversion = Assert.Single(result.Output.Select(o => o.BaseObject).OfType<Int4ConversionResult>());
        Assert.Equal("Gptq", conversion.Recipe);
        Assert.Equal("Q4 g64 sym gptq", conversion.Format);
        Assert.Equal("calibration.txt", conversion.CalibrationText);
        Assert.NotNull(conversion.Accuracy);
        Assert.InRange(conversion.Accuracy!.PerplexityIncrease, -0.05, 0.05);
        using var model = ModelLoader.Load(Path.Combine(_dir, "gptq.llmc"));
        Assert.Equal("GPTQ", model.Quantization!.Recipe);
        Assert.Equal("calibration.txt", model.Quantization.CalibrationText);
        Assert.Equal(4.25, model.Quantization.BitsPerWeight);
    }

    [Fact]
    public void ActivationOrderIsRecordedAsPartOfTheGptqRecipe()
    {
        File.WriteAllText(Path.Combine(_dir, "calibration.txt"), LlmCpu.Engine.Quantization.CalibrationText.BuiltIn.Text[..6000]);
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/act.llmc\" -Recipe Gptq -ActivationOrder -CalibrationPath \"$d/calibration.txt\"",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        using var model = ModelLoader.Load(Path.Combine(_dir, "act.llmc"));
        Assert.Equal("GPTQ (activation order)", model.Quantization!.Recipe);
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        GreedyAgreement.AssertAgrees(original, model, original.Tokenizer.Encode("Mr. Darcy", addBos: true), 24);
    }

    [Fact]
    public void MatrixGroupSizesFromAHashtableAreWrittenPerMatrix()
    {
        var result = _ps.Run("Import-Model | ConvertTo-Int4Model \"$d/mix.llmc\" -GroupSize 128 -MatrixGroupSize @{ Down = 32; Attention = 64 } -OutputProjection Int8",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversion = Assert.IsType<Int4ConversionResult>(Assert.Single(result.Output).BaseObject);
        Assert.Equal(new LlmCpu.Engine.Quantization.MatrixGroupSizes(64, 64, 128, 32), conversion.MatrixGroupSizes);
        Assert.Equal(4.25, conversion.BitsPerWeight, 12);
        using var model = ModelLoader.Load(Path.Combine(_dir, "mix.llmc"));
        Assert.All(model.Weights.Layers, l => Assert.Equal((64, 64, 128, 32),
            (((Int4Matrix)l.QueryKeyValue).GroupSize, ((Int4Matrix)l.AttentionOutput).GroupSize, ((Int4Matrix)l.GateUp).GroupSize, ((Int4Matrix)l.Down).GroupSize)));
        Assert.Equal(conversion.MatrixGroupSizes, model.Quantization!.MatrixGroupSizes);
    }

    [Theory]
    [InlineData("-MatrixGroupSize @{ Up = 32 }", "'Up' is not a kind of layer matrix")]
    [InlineData("-MatrixGroupSize @{ Down = 'fine' }", "is not a number")]
    [InlineData("-MatrixGroupSize @{ Down = 48 }", "32, 64, 128 or -1")]
    [InlineData("-MatrixGroupSize @{ Down = 32 } -Recipe Auto -EvaluationText 'It is a truth universally acknowledged.'", "Auto recipe chooses")]
    public void BadMatrixGroupSizesAreInvalidMatrixGroupSize(string parameters, string message)
    {
        var result = _ps.Run($"Import-Model | ConvertTo-Int4Model \"$d/x.llmc\" {parameters}", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.Equal("InvalidMatrixGroupSize,LlmCpu.Module.Commands.ConvertToInt4ModelCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains(message, error.Exception.Message);
        Assert.Empty(Directory.GetFiles(_dir, "*.llmc"));
    }

    [Theory]
    [InlineData(511)]
    [InlineData(65537)]
    public void CalibrationTokensOutsideTheRangeAreRefusedAtBindingNamingIt(int tokens)
    {
        var result = _ps.Run($"Import-Model | ConvertTo-Int4Model \"$d/x.llmc\" -Recipe Gptq -CalibrationTokens {tokens}", new Dictionary<string, object?> { ["d"] = _dir });
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("ParameterArgumentValidationError,", error.FullyQualifiedErrorId);
        Assert.Contains(tokens < 512 ? "512" : "65536", error.Exception.Message);
        Assert.Empty(Directory.GetFiles(_dir, "*.llmc"));
    }

    [Fact]
    public void CalibrationTokensLimitWhatTheRecipeRuns()
    {
        // More than 1,024 tokens but fewer than the default 4,096: all of its whole windows by default, four when 1,024 are asked for.
        File.WriteAllText(Path.Combine(_dir, "calibration.txt"), LlmCpu.Engine.Quantization.CalibrationText.BuiltIn.Text[..6000]);
        var result = _ps.Run("""
            Import-Model | ConvertTo-Int4Model "$d/a.llmc" -Recipe Gptq -CalibrationPath "$d/calibration.txt"
            Import-Model | ConvertTo-Int4Model "$d/b.llmc" -Recipe Gptq -CalibrationPath "$d/calibration.txt" -CalibrationTokens 1024
            """, new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var conversions = result.Output.Select(o => Assert.IsType<Int4ConversionResult>(o.BaseObject)).ToList();
        Assert.Equal(2, conversions.Count);
        Assert.True(conversions[0].CalibrationTokens > 1024, $"default: {conversions[0].CalibrationTokens} tokens");
        Assert.Equal(0, conversions[0].CalibrationTokens % 256);
        Assert.Equal(1024, conversions[1].CalibrationTokens);
    }
}
