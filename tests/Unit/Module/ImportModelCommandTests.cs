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
    public void AnAwqCheckpointLoadsAsInt4InItsOwnGroupsAndGenerates()
    {
        string folder = Path.Combine(Path.GetTempPath(), "llmcpu-awq-" + Guid.NewGuid().ToString("N"));
        try
        {
            QuantizedCheckpointWriter.Write(RepoPaths.FixtureModel, folder, QuantizedCheckpointWriter.Layout.Awq, 64, asymmetric: true);
            var result = _ps.Run("$m = Import-Model -LiteralPath $p; $m.Precision; ($m | Invoke-Generation -Prompt 'It is a truth' -MaxTokens 3 -Temperature 0).GeneratedTokens",
                new Dictionary<string, object?> { ["p"] = folder });
            Assert.Empty(result.Errors);
            Assert.Equal("Q4 g64 asym", result.Output[0].BaseObject);
            Assert.Equal(3, Convert.ToInt32(result.Output[1].BaseObject));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
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
    public void VerboseNamesTheKernelPathOnceForEveryKindOfFile()
    {
        string gguf = TinyLlamaGguf.Create().Write(Path.Combine(_dir, "tiny.gguf"));
        _ps.Run("$lines = Import-Model -LiteralPath $p, $f -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }",
            new Dictionary<string, object?> { ["p"] = gguf, ["f"] = RepoPaths.FixtureModel });
        var lines = ((object[])_ps.GetVariable("lines")!).Select(l => l.ToString()!).ToList();
        Assert.Equal(2, lines.Count(l => l.StartsWith("Model '", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.Contains("kernel path", StringComparison.OrdinalIgnoreCase));
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
    public void PrecisionOptionsReachTheWeights()
    {
        var result = _ps.Run("""
            Import-Model -Precision Int4 -GroupSize 64 -Asymmetric -Activations Float32 -Recipe MinimizeError
            Import-Model -Precision Float32
            """);
        Assert.Empty(result.Errors);
        using var int4 = (LanguageModel)result.Output[0].BaseObject;
        using var f32 = (LanguageModel)result.Output[1].BaseObject;
        Assert.Equal("Q4 g64 asym mse", int4.Precision);
        var matrix = Assert.IsType<LlmCpu.Kernels.Quantization.Int4Matrix>(int4.Weights.Layers[0].GateUp);
        Assert.Equal(new LlmCpu.Kernels.Quantization.Int4Format(64, true, LlmCpu.Kernels.Quantization.Int4Recipe.MinimizeError), matrix.Int4Format);
        Assert.Equal(LlmCpu.Kernels.Quantization.ActivationMode.Float32, matrix.Activations);
        Assert.Equal("F32", f32.Precision);
        Assert.IsType<LlmCpu.Kernels.MatMul.Float32Matrix>(f32.Weights.Layers[0].GateUp);
    }

    [Fact]
    public void ADefectIsAnInternalErrorNotTheUsersMistake()
    {
        // An ArgumentException from inside the engine is a bug, not bad input: it must not read as InvalidArgument.
        var result = _ps.Run("""
            $mapper = (Get-Module LlmCpu).ImplementingAssembly.GetType('LlmCpu.Module.Internal.ErrorMapper')
            $flags = [System.Reflection.BindingFlags]'Public,Static'
            $bug = [System.ArgumentException]::new('rows must be positive')
            $mapper.GetMethod('IsExpected', $flags).Invoke($null, @($bug))
            $mapper.GetMethod('IsDefect', $flags).Invoke($null, @($bug))
            $mapper.GetMethod('IsDefect', $flags).Invoke($null, @([System.InvalidOperationException]::new('x')))
            $mapper.GetMethod('IsExpected', $flags).Invoke($null, @([LlmCpu.Engine.GenerationArgumentException]::new('Prompt', 'too long')))
            $mapper.GetMethod('IsDefect', $flags).Invoke($null, @([System.Management.Automation.PipelineStoppedException]::new()))
            $record = $mapper.GetMethod('Defect', $flags).Invoke($null, @($bug, 'target'))
            $record.FullyQualifiedErrorId
            $record.CategoryInfo.Category
            $record.ErrorDetails.Message
            """);
        Assert.Empty(result.Errors);
        var values = result.Output.Select(o => o.BaseObject.ToString()!).ToArray();
        Assert.Equal(["False", "True", "True", "True", "False", "InternalError", "NotSpecified"], values.Take(7));
        Assert.Contains("Internal error in LlmCpu (ArgumentException): rows must be positive", values[7]);
    }

    [Fact]
    public void OneBadPathDoesNotStopTheOthers()
    {
        var result = _ps.Run("Import-Model -Path $bad, $good", new Dictionary<string, object?> { ["bad"] = Path.Combine(_dir, "none"), ["good"] = RepoPaths.FixtureModel });
        Assert.Single(result.Errors);
        Assert.Single(result.Output);
    }
}
