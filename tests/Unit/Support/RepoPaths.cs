namespace LlmCpu.Tests.Support;

/// <summary>Where things are in the repository and the build output, found from the test assembly's folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string FixtureModel => Path.Combine(Root, "fixtures", "austen-llama");

    /// <summary>The tiny random model of one family, with its GGUF and reference outputs (fixtures/arch, tools/arch-fixtures).</summary>
    public static string ArchitectureFixture(string family) => Path.Combine(Root, "fixtures", "arch", family);

    /// <summary>Test data committed beside the tests (tests/Unit/TestData).</summary>
    public static string TestData => Path.Combine(Root, "tests", "Unit", "TestData");

    public static string ModuleManifest => Path.Combine(AppContext.BaseDirectory, "Modules", "LlmCpu", "LlmCpu.psd1");

    public static string HostAssembly => Path.Combine(AppContext.BaseDirectory, "llmcpu.dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LlmCpu.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Cannot find the repository root (LlmCpu.sln) above " + AppContext.BaseDirectory);
    }
}
