namespace LlmCpu.Host;

/// <summary>How progress records reach standard error.</summary>
internal enum ProgressMode
{
    /// <summary>Not shown: standard error is a log or a pipe, where a bar cannot be redrawn.</summary>
    None,

    /// <summary>One line redrawn in place: standard error is a terminal.</summary>
    Bar,

    /// <summary>A few throttled lines per activity (<see cref="ProgressLines"/>), asked for with LLMCPU_PROGRESS=lines.</summary>
    Lines,
}

internal static class ProgressModes
{
    public const string Variable = "LLMCPU_PROGRESS";

    /// <summary>
    /// A bar on a terminal; elsewhere nothing, unless LLMCPU_PROGRESS asks for lines (a long conversion in a CI log)
    /// or none (a terminal that should stay quiet). Progress is for people watching; a log wants results and errors.
    /// </summary>
    public static ProgressMode ForStandardError() =>
        Environment.GetEnvironmentVariable(Variable)?.Trim().ToLowerInvariant() switch
        {
            "lines" => ProgressMode.Lines,
            "none" => ProgressMode.None,
            _ => Console.IsErrorRedirected ? ProgressMode.None : ProgressMode.Bar,
        };
}
