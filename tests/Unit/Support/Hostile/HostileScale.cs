namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// How many damaged inputs each hostile-input test tries: its CI count times LLMCPU_HOSTILE_SCALE (default 1), so a
/// long local run is <c>LLMCPU_HOSTILE_SCALE=50 dotnet test --filter Hostile</c>. The seed of the random damage
/// follows LLMCPU_HOSTILE_SEED (default fixed), so a CI failure replays exactly and a long run can explore new cases.
/// </summary>
public static class HostileScale
{
    public static int Factor { get; } = ReadInt("LLMCPU_HOSTILE_SCALE", 1, minimum: 1);

    public static int Seed { get; } = ReadInt("LLMCPU_HOSTILE_SEED", 20261201, minimum: int.MinValue);

    public static int Cases(int perCiRun) => checked(perCiRun * Factor);

    private static int ReadInt(string name, int fallback, int minimum) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value >= minimum ? value : fallback;
}
