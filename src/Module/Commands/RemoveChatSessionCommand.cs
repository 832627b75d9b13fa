using System.Management.Automation;
using LlmCpu.Engine.Runtime.Chat;

namespace LlmCpu.Module.Commands;

/// <summary>
/// Remove-ChatSession: releases a chat session's KV cache now (the same as its <c>Dispose()</c>). A turn still running
/// finishes first; any later turn is a <c>ChatSessionDisposed</c> error. Removing a session twice does nothing.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "ChatSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(void))]
[Alias("Remove-LlmChatSession")]
public sealed class RemoveChatSessionCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ChatSession[]? Session { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var session in Session!)
        {
            if (session.IsDisposed) continue;
            if (ShouldProcess(session.ToString(), "Release the chat session's cache")) session.Dispose();
        }
    }
}
