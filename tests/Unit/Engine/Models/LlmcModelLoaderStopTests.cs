using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Opening a .llmc verifies every tensor's checksum, a pass over the whole file (seconds for a 7B model from disk): a
/// stop request is honoured between tensors, the mapping is released, and the file opens normally afterwards.
/// </summary>
public sealed class LlmcModelLoaderStopTests : IDisposable
{
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("llmcpu-llmc-stop-").FullName, "tiny.llmc");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    [Fact]
    public void AStopRequestEndsTheChecksumPassAndTheFileStillOpens()
    {
        File.WriteAllBytes(_path, TinyModel.LlmcFile());
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ModelLoader.Load(_path, new LoadOptions { Cancellation = stop.Token }));

        // The mapping was released: the file can be replaced and opened again.
        File.WriteAllBytes(_path, TinyModel.LlmcFile());
        using var model = ModelLoader.Load(_path);
        Assert.Equal(TinyModel.Shape.LayerCount, model.Config.LayerCount);
    }
}
