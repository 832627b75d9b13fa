using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Tests.Support;

/// <summary>An engine log that keeps what it is told, for asserting on verbose lines and warnings.</summary>
public sealed class RecordingLog : IEngineLog
{
    public List<string> VerboseLines { get; } = [];

    public List<string> Warnings { get; } = [];

    public void Verbose(string message) => VerboseLines.Add(message);

    public void Warning(string message) => Warnings.Add(message);

    public void Progress(string activity, string status, int percentComplete) { }
}
