using System.Management.Automation;
using LlmCpu.Engine.Models;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Remove-Model: frees a loaded model's memory now rather than when the garbage collector gets to it. A generation
/// still running on the model finishes first (its memory goes when it ends); any later use of the model is a
/// <c>ModelDisposed</c> error. Removing a model twice does nothing.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Model", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(void))]
[Alias("Remove-LlmModel")]
public sealed class RemoveModelCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel[]? Model { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var model in Model!)
        {
            if (model.IsDisposed) continue;
            if (ShouldProcess(model.ToString(), "Free the model's memory")) model.Dispose();
        }
    }
}
