using System.Diagnostics;
using System.Management.Automation;

namespace LlmCpu.Host;

/// <summary>
/// Progress lines for a standard error that is not a terminal, when LLMCPU_PROGRESS=lines asks for them (by default
/// llmcpu shows no progress there; see <see cref="ProgressModes"/>): a bar cannot be redrawn in
/// place, so each update would be a line of its own (a hundred lines for one export). This prints an activity's first
/// record, then at most one line per <see cref="PercentStep"/> percent or per <see cref="MinimumInterval"/>, whichever
/// is rarer, and always a final "done" line when the activity completes, so a log shows that it finished.
/// </summary>
internal sealed class ProgressLines
{
    public const int PercentStep = 25;

    public static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(5);

    private readonly Dictionary<(long Source, int Activity), (int Percent, long Timestamp)> _shown = [];

    /// <summary>The line to print for <paramref name="record"/>, or null to print nothing.</summary>
    public string? LineFor(long sourceId, ProgressRecord record)
    {
        var key = (sourceId, record.ActivityId);
        if (record.RecordType == ProgressRecordType.Completed)
        {
            // Completion of an activity never shown (it finished before its first line was due) stays silent.
            return _shown.Remove(key) ? $"{record.Activity}: done (100%)" : null;
        }
        long now = Stopwatch.GetTimestamp();
        if (_shown.TryGetValue(key, out var last))
        {
            bool stepped = record.PercentComplete >= 0 && record.PercentComplete / PercentStep > last.Percent / PercentStep;
            if (!stepped || Stopwatch.GetElapsedTime(last.Timestamp, now) < MinimumInterval) return null;
        }
        _shown[key] = (record.PercentComplete, now);
        return $"{record.Activity}: {record.StatusDescription}" + (record.PercentComplete >= 0 ? $" ({record.PercentComplete}%)" : "");
    }
}
