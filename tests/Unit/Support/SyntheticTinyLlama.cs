using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Support;

/// <summary>
/// A random-weight INT4 model with TinyLlama-1.1B's exact shape (22 layers, 2048 wide, vocabulary 32000, context
/// 2048), written once per test run to a temporary folder (about 620 MB) and deleted afterwards. Large enough that a
/// generation takes seconds, so stopping one can be timed, and that weights with a bias blow up within a few layers.
/// </summary>
public sealed class SyntheticTinyLlama : IDisposable
{
    public SyntheticTinyLlama()
    {
        Folder = Directory.CreateTempSubdirectory("llmcpu-tinyllama-").FullName;
        Path = System.IO.Path.Combine(Folder, "tinyllama-q4g128.llmc");
        byte[] tokenizer = File.ReadAllBytes(System.IO.Path.Combine(RepoPaths.FixtureModel, "tokenizer.model"));
        SyntheticModelWriter.WriteLlmc(SyntheticShape.TinyLlama1B, Path, new Int4Format(128, false), tokenizer, seed: 1, overwrite: false);
        Model = ModelLoader.Load(Path);
    }

    public string Folder { get; }

    public string Path { get; }

    public LanguageModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class SyntheticTinyLlamaCollection : ICollectionFixture<SyntheticTinyLlama>
{
    public const string Name = "Synthetic TinyLlama";
}
