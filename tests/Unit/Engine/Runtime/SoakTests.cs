using System.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Thousands of generations, sessions and model loads in one process: resident memory, handles and threads level off
/// after warm-up instead of growing with the work. The CI run takes ten seconds; LLMCPU_SOAK_SECONDS runs it for
/// longer (<c>LLMCPU_SOAK_SECONDS=3600 dotnet test --filter Soak</c>). Runs alone, as other tests would move the figures.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("LLMCPU_SOAK_SECONDS"), out int seconds) && seconds > 0 ? seconds : 10);

    /// <summary>Growth allowed between the first and the last measurement: noise from the allocator and the JIT, not a leak.</summary>
    private const long ResidentGrowthBytes = 48L << 20;
    private const int HandleGrowth = 16, ThreadGrowth = 8;

    [Fact]
    public void ResourcesStayFlatOverThousandsOfGenerationsSessionsAndLoads()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-soak-").FullName;
        try
        {
            string gguf = Path.Combine(folder, "tiny.gguf"), llmc = Path.Combine(folder, "tiny.llmc");
            File.WriteAllBytes(gguf, TinyModel.Gguf(LlmCpu.Engine.Formats.Gguf.GgmlType.Q4_0));
            File.WriteAllBytes(llmc, TinyModel.LlmcFile());
            // The tiny model keeps a generation to about a millisecond, so the CI run does thousands.
            using var model = ModelLoader.Load(gguf);
            var generator = new TextGenerator(model);
            string[] prompts = ["It is a truth", "Mr. Darcy", "She was not", "The evening passed"];

            int generations = 0, loads = 0;
            void Round()
            {
                // Different lengths, so sessions rent caches of different capacities from the pool.
                int maxTokens = 1 + generations % 24;
                generator.Generate(prompts[generations % prompts.Length], new GenerationOptions
                {
                    MaxTokens = maxTokens, StopAtEos = false, Sampling = new SamplingOptions { Seed = generations, Temperature = 1 },
                });
                generations++;
                if (generations % 50 == 0)
                {
                    using var loaded = ModelLoader.Load(loads % 2 == 0 ? RepoPaths.FixtureModel : llmc);
                    new TextGenerator(loaded).Generate("It is", new GenerationOptions { MaxTokens = 2, StopAtEos = false });
                    loads++;
                }
            }

            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Duration / 4) Round();
            var warm = ProcessResources.Now();
            int warmGenerations = generations;
            var samples = new List<ProcessResources> { warm };
            while (clock.Elapsed < Duration)
            {
                Round();
                if (generations % 200 == 0) samples.Add(ProcessResources.Now());
            }
            var end = ProcessResources.Now();
            samples.Add(end);
            output.WriteLine($"{generations} generations ({generations - warmGenerations} after warm-up), {loads} loads and disposals in {clock.Elapsed.TotalSeconds:F0} s");
            output.WriteLine($"after warm-up: {warm}; at the end: {end}; highest resident {samples.Max(s => s.ResidentBytes) / 1048576.0:F1} MiB");
            Assert.True(generations > 1000 || Duration.TotalSeconds < 10, $"only {generations} generations");
            Assert.True(end.ResidentBytes - warm.ResidentBytes < ResidentGrowthBytes, $"resident memory grew from {warm} to {end}");
            Assert.True(end.Handles - warm.Handles <= HandleGrowth, $"handles grew from {warm} to {end}");
            Assert.True(end.Threads - warm.Threads <= ThreadGrowth, $"threads grew from {warm} to {end}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
