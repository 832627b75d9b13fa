namespace LlmCpu.Engine.Diagnostics;

/// <summary>
/// How the Engine reports what it is doing without knowing who listens: the PowerShell module writes these
/// to the verbose, warning and progress streams; a plain .NET caller may pass <see cref="NullEngineLog"/>.
/// Calls arrive on the thread that called into the Engine.
/// </summary>
public interface IEngineLog
{
    void Verbose(string message);

    void Warning(string message);

    /// <param name="activity">What is being done, for example "Loading model".</param>
    /// <param name="status">The current step, for example a tensor name.</param>
    /// <param name="percentComplete">0-100, or -1 when unknown.</param>
    void Progress(string activity, string status, int percentComplete);
}

public sealed class NullEngineLog : IEngineLog
{
    public static readonly NullEngineLog Instance = new();

    public void Verbose(string message) { }

    public void Warning(string message) { }

    public void Progress(string activity, string status, int percentComplete) { }
}
