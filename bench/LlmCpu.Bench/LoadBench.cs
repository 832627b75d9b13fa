using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Load time and memory of one model file, against the aims "load within 5 s from the page cache; resident memory
/// within weights + KV cache + 10%". The file is read once first so that every load finds it in the page cache. Each load
/// is timed from the call to a model ready to decode; after it, one decode step fills one KV block per layer, so the
/// resident figure includes the runtime's buffers. The first load in the process pays the JIT (as a fresh PowerShell
/// session does); later ones show the steady cost. One JSON line per load: seconds, resident and peak resident bytes
/// (the process's, from /proc/self/status), the model's weight bytes (what its matrices occupy after repacking), its
/// file size, and the KV cache's bytes at most (the pool's bound, <c>-ContextLength</c> × <c>-MaxSessions</c>).
/// </summary>
public static class LoadBench
{
    public static void Run(string path, int loads, int contextLength)
    {
        WarmPageCache(path);
        for (int i = 0; i < loads; i++)
        {
            var watch = Stopwatch.StartNew();
            var model = ModelLoader.Load(path, new LoadOptions
            {
                MemoryMap = BenchModels.MemoryMap,
                KvCache = new KvCacheOptions { ContextLength = contextLength, MaxSessions = 1 },
            });
            double seconds = watch.Elapsed.TotalSeconds;
            using (model)
            {
                using var pool = new WorkerPool(Environment.ProcessorCount);
                DecodeOneToken(model, pool);
                long resident = ProcessMemory("VmRSS:");
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    test = "load", load = i + 1, file = Path.GetFileName(path), seconds, model.FileSizeBytes, model.WeightBytes,
                    model.ResidentBytes, model.MappedBytes, kvCacheMaxBytes = model.KvCacheMaxBytes,
                    processResidentBytes = resident, processPeakResidentBytes = ProcessMemory("VmHWM:"),
                    residentOverWeightsAndKv = (double)resident / (model.WeightBytes + model.KvCacheMaxBytes),
                }));
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    private static void DecodeOneToken(LanguageModel model, WorkerPool pool)
    {
        using var session = new InferenceSession(model, pool);
        session.Decode(model.Tokenizer.BosTokenId);
    }

    private static void WarmPageCache(string path)
    {
        var buffer = new byte[1 << 22];
        using var file = File.OpenRead(path);
        while (file.Read(buffer) > 0) { }
    }

    /// <summary>A "VmRSS:"-style line of /proc/self/status in bytes; 0 where there is none (not Linux).</summary>
    private static long ProcessMemory(string field)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line[field.Length..].Trim().Split(' ')[0]) * 1024;
        }
        return 0;
    }
}
