using System.Management.Automation;
using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Module.Internal;

/// <summary>Forwards Engine diagnostics to a cmdlet's verbose, warning and progress streams (on the pipeline thread).</summary>
internal sealed class CmdletLog(Cmdlet cmdlet, int activityId) : IEngineLog
{
    // The activity of the progress bar shown now, if it has not been completed.
    private string? _openActivity;

    public void Verbose(string message) => cmdlet.WriteVerbose(message);

    public void Warning(string message) => cmdlet.WriteWarning(message);

    public void Progress(string activity, string status, int percentComplete)
    {
        var record = new ProgressRecord(activityId, activity, status) { PercentComplete = Math.Clamp(percentComplete, -1, 100) };
        if (percentComplete >= 100) record.RecordType = ProgressRecordType.Completed;
        _openActivity = record.RecordType == ProgressRecordType.Completed ? null : activity;
        cmdlet.WriteProgress(record);
    }

    /// <summary>
    /// Completes a progress bar the Engine left open (it failed or was cancelled part-way), so no stale bar stays on
    /// screen. Does nothing once the pipeline is stopping, when PowerShell takes no more records.
    /// </summary>
    public void Complete()
    {
        if (_openActivity is null) return;
        try
        {
            Progress(_openActivity, "done", 100);
        }
        catch (PipelineStoppedException)
        {
            _openActivity = null;
        }
    }
}
