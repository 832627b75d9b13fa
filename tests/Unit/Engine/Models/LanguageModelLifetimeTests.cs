using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// A disposed model is refused, never read: its weights are native memory, and reading them after they were freed
/// once aborted the process with an access violation. A model disposed while a generation runs on it stays allocated
/// until that generation ends.
/// </summary>
public sealed class LanguageModelLifetimeTests
{
    private static LanguageModel LoadFixture() => ModelLoader.Load(RepoPaths.FixtureModel);

    [Fact]
    public void EveryUseOfADisposedModelIsObjectDisposed()
    {
        var model = LoadFixture();
        model.Dispose();
        Assert.True(model.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => new InferenceSession(model, WorkerPool.Shared));
        Assert.Throws<ObjectDisposedException>(() => new TextGenerator(model).Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 2 }));
        string folder = Directory.CreateTempSubdirectory("llmcpu-disposed-").FullName;
        try
        {
            Assert.Throws<ObjectDisposedException>(() => GgufModelExporter.Export(model, Path.Combine(folder, "x.gguf")));
            Assert.Throws<ObjectDisposedException>(() => Int4ModelConverter.Convert(model, Path.Combine(folder, "x.llmc"),
                new LlmCpu.Kernels.Quantization.Int4Format(128, false), LlmCpu.Kernels.Quantization.ActivationMode.Int8, false, null));
            Assert.Empty(Directory.GetFileSystemEntries(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        // Its description still works: a disposed model in a variable can be displayed.
        Assert.True(model.WeightBytes > 0);
        Assert.Contains(model.Name, model.ToString());
        model.Dispose();
    }

    [Fact]
    public void DisposingDuringAGenerationLetsItFinishWithTheSameTokens()
    {
        var options = new GenerationOptions { MaxTokens = 120, StopAtEos = false, Sampling = new SamplingOptions { Seed = 21 } };
        using var undisturbed = LoadFixture();
        var expected = new TextGenerator(undisturbed).Generate("She was not", options);

        var model = LoadFixture();
        var result = new TextGenerator(model).Generate("She was not", options, onPiece: token =>
        {
            if (token.Index == 10) model.Dispose();
        });
        Assert.True(model.IsDisposed);
        Assert.Equal(expected.TokenIds, result.TokenIds);
        Assert.Throws<ObjectDisposedException>(() => new InferenceSession(model, WorkerPool.Shared));
    }

    [Fact]
    public void DisposingFromAnotherThreadWhileSessionsRunIsSafe()
    {
        var model = LoadFixture();
        var ids = model.Tokenizer.Encode("It is a truth universally acknowledged", addBos: true);
        using var started = new Barrier(5);
        var outcomes = new string[4];
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            started.SignalAndWait();
            try
            {
                using var pool = new WorkerPool(1);
                using var session = new InferenceSession(model, pool, contextLength: 64);
                var logits = session.Prefill(ids);
                for (int i = 0; i < 20; i++) logits = session.Decode(i + 5);
                outcomes[t] = logits.ToArray().All(float.IsFinite) ? "finished" : "non-finite";
            }
            catch (ObjectDisposedException)
            {
                outcomes[t] = "refused";
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        started.SignalAndWait();
        model.Dispose();
        foreach (var thread in threads) thread.Join();
        Assert.All(outcomes, o => Assert.Contains(o, new[] { "finished", "refused" }));
    }
}
