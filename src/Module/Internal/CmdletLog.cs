using System.Management.Automation;
using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Module.Internal;

/// <summary>Forwards Engine diagnostics to a cmdlet's verbose, warning and progress streams (on the pipeline thread).</summary>
internal sealed class CmdletLog(Cmdlet cmdlet, int activityId) : IEngineLog
{
    public void Verbose(string message) => cmdlet.WriteVerbose(message);

    public void Warning(string message) => cmdlet.WriteWarning(message);

    public void Progress(string activity, string status, int percentComplete)
    {
        var record = new ProgressRecord(activityId, activity, status) { PercentComplete = Math.Clamp(percentComplete, -1, 100) };
        if (percentComplete >= 100) record.RecordType = ProgressRecordType.Completed;
        cmdlet.WriteProgress(record);
    }
}
