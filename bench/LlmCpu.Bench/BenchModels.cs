using LlmCpu.Engine.Models;

namespace LlmCpu.Bench;

/// <summary>How the benchmarks load a model: mapped as the engine does by default, or read into memory (--no-mmap).</summary>
public static class BenchModels
{
    /// <summary>The argument that reads .llmc files into memory instead of mapping them, as llama-bench's -mmp 0 does.</summary>
    public const string NoMemoryMapArgument = "--no-mmap";

    public static bool MemoryMap { get; set; } = true;

    public static LanguageModel Load(string path) => ModelLoader.Load(path, new LoadOptions { MemoryMap = MemoryMap });
}
