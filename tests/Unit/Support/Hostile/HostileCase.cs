namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// One damaged input: the files of a model (name to bytes, written into an empty folder) and what was done to them,
/// so that a failure message says how to make the case again.
/// </summary>
public sealed record HostileCase(string Damage, IReadOnlyDictionary<string, byte[]> Files)
{
    public static HostileCase Single(string fileName, byte[] bytes, string damage) => new(damage, new Dictionary<string, byte[]> { [fileName] = bytes });

    public long TotalBytes => Files.Values.Sum(f => (long)f.Length);

    /// <summary>A copy with <paramref name="fileName"/> replaced.</summary>
    public HostileCase With(string fileName, byte[] bytes, string damage) =>
        new(damage, new Dictionary<string, byte[]>(Files) { [fileName] = bytes });
}
