using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Tests.Support;

/// <summary>An engine log that keeps what it is told, for asserting on verbose lines and warnings.</summary>
public sealed class RecordingLog : IEngineLog
{
    public List<string> VerboseLines { get; } = [];

    public List<string> Warnings { get; } = [];

    public void Verbose(string message) => VerboseLines.Add(message);

    public void Warning(string message) => Warnings.Add(message);

    /// <summary>"activity: status" of each progress report.</summary>
    public List<string> Progress { get; } = [];

    /// <summary>Called with each progress line as it is reported (to act at a given point of a long run).</summary>
    public Action<string>? OnProgress { get; init; }

    void IEngineLog.Progress(string activity, string status, int percentComplete)
    {
        string line = $"{activity}: {status}";
        Progress.Add(line);
        OnProgress?.Invoke(line);
    }
}
