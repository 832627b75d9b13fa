using System.Management.Automation;
using LlmCpu.Host;

namespace LlmCpu.Tests.Host;

public sealed class ProgressLinesTests
{
    [Fact]
    public void AnActivityPrintsItsFirstLineThenFewThenDone()
    {
        var lines = new ProgressLines();
        var printed = new List<string>();
        for (int i = 0; i < 100; i++)
        {
            var record = new ProgressRecord(1, "Loading model", $"layer {i + 1} of 100") { PercentComplete = i };
            if (lines.LineFor(0, record) is { } line) printed.Add(line);
        }
        if (lines.LineFor(0, new ProgressRecord(1, "Loading model", "done") { RecordType = ProgressRecordType.Completed }) is { } last) printed.Add(last);
        // Updates arrive faster than the minimum interval: only the first and the completion are printed.
        Assert.Equal(["Loading model: layer 1 of 100 (0%)", "Loading model: done (100%)"], printed);
    }

    [Fact]
    public void ACompletionOfAnActivityNeverShownIsSilent()
    {
        var lines = new ProgressLines();
        Assert.Null(lines.LineFor(0, new ProgressRecord(2, "Exporting", "done") { RecordType = ProgressRecordType.Completed }));
    }
}
