using System.Runtime.ExceptionServices;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Builds a model's layers on every core: converting or repacking a file's tensors is independent from layer to layer,
/// and on one thread it is most of a load (a 7B Q4_0 GGUF once took 25 s). Layers are built in batches of the core
/// count; between batches, on the calling thread, progress is reported and cancellation checked (the log writes to
/// PowerShell's streams, which only the pipeline thread may do). A failure disposes every layer built and rethrows the
/// first error as it was thrown.
/// </summary>
internal static class ParallelLayers
{
    public static LayerWeights[] Build(int count, Func<int, LayerWeights> build, LoadOptions options)
    {
        var layers = new LayerWeights[count];
        int batch = Math.Max(1, Environment.ProcessorCount);
        try
        {
            for (int first = 0; first < count; first += batch)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                int last = Math.Min(count, first + batch);
                options.Log.Progress("Loading model", last - first == 1 ? $"layer {first + 1} of {count}" : $"layers {first + 1}-{last} of {count}",
                    100 * first / count);
                try
                {
                    Parallel.For(first, last, new ParallelOptions { MaxDegreeOfParallelism = batch, CancellationToken = options.Cancellation },
                        i => layers[i] = build(i));
                }
                catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
                {
                    ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
                }
            }
            return layers;
        }
        catch
        {
            foreach (var layer in layers) layer?.Dispose();
            throw;
        }
    }
}
