using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

public sealed class NewSyntheticModelCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-newsynth-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void WritesATinyLlamaShapedModelThatPipesIntoImportModel()
    {
        var result = _ps.Run("New-SyntheticModel -Shape TinyLlama-1.1B -Destination \"$d/t.llmc\" | Import-Model",
            new Dictionary<string, object?> { ["d"] = _dir });
        Assert.Empty(result.Errors);
        var model = Assert.IsType<LanguageModel>(Assert.Single(result.Output).BaseObject);
        Assert.Equal(2048, model.Config.EmbeddingLength);
        Assert.Equal(22, model.LayerCount);
        Assert.Equal(4, model.Config.KvHeadCount);
        Assert.Equal(1_100_048_384, model.Parameters);
        model.Dispose();
    }

    [Fact]
    public void AnUnknownShapeIsRefusedByValidation()
    {
        var result = _ps.Run("New-SyntheticModel -Shape GPT-5 -Destination \"$d/x.llmc\"", new Dictionary<string, object?> { ["d"] = _dir });
        Assert.StartsWith("ParameterArgumentValidationError,", Assert.Single(result.Errors).FullyQualifiedErrorId);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
