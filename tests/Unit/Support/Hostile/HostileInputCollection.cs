namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Hostile-input tests run alone, after the parallel tests: each case measures the bytes the whole process allocates
/// (managed and native) while it loads, which other tests running at the same time would inflate.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HostileInputCollection
{
    public const string Name = "Hostile input";
}
