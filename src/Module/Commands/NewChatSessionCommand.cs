using System.Management.Automation;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Module.Internal;

namespace LlmCpu.Module.Commands;

/// <summary>
/// New-ChatSession: starts a conversation with a model that keeps its KV cache and its messages between calls of
/// <c>Invoke-Generation -Session</c>, so each turn runs only its new tokens. The session holds its cache (and a
/// reference to the model's weights) until <c>Remove-ChatSession</c> or <c>Dispose()</c>.
/// </summary>
[Cmdlet(VerbsCommon.New, "ChatSession", DefaultParameterSetName = FormatSet)]
[OutputType(typeof(ChatSession))]
[Alias("New-LlmChatSession")]
public sealed class NewChatSessionCommand : PSCmdlet
{
    private const string FormatSet = "Format";
    private const string TemplateNameSet = "TemplateName";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public LanguageModel? Model { get; set; }

    /// <summary>The system message that opens the conversation.</summary>
    [Parameter]
    [ValidateNotNull]
    public string? SystemPrompt { get; set; }

    /// <summary>The chat format; without it, the model's own chat template is recognised.</summary>
    [Parameter(ParameterSetName = FormatSet)]
    public ChatTemplateKind? Template { get; set; }

    /// <summary>
    /// Which of the model's own chat templates to recognise: "default", or a name the model gives another one
    /// ("tool_use", "rag" in a tokenizer_config.json list of named templates, GGUF tokenizer.chat_template.NAME).
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = TemplateNameSet)]
    [ValidateNotNullOrEmpty]
    public string? TemplateName { get; set; }

    /// <summary>Positions the conversation may fill (rounded up to steps of 256, at most the model's context); the model's context by default.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? ContextLength { get; set; }

    /// <summary>Worker threads for every turn, the calling thread included; 0 means one per logical processor.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Threads { get; set; }

    /// <summary>When a message does not fit, keep the first -KeepTokens tokens, drop the older half of the rest and go on, instead of an error.</summary>
    [Parameter]
    public SwitchParameter ContextShift { get; set; }

    /// <summary>Tokens a context shift keeps at the start; by default the conversation's opening (BOS and the system prompt).</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? KeepTokens { get; set; }

    protected override void ProcessRecord()
    {
        WorkerPools.Lease? lease = null;
        try
        {
            if (Template is { } kind && !Enum.IsDefined(kind))
                throw new ArgumentOutOfRangeException(nameof(Template), kind, $"Template {kind} is not one of {string.Join(", ", Enum.GetNames<ChatTemplateKind>())}.");
            lease = WorkerPools.Rent(Threads, WriteWarning);
            var session = new ChatSession(Model!, Template, SystemPrompt, ContextLength, lease.Pool, lease, TemplateName) { ContextShift = ContextShift, KeepTokens = KeepTokens };
            lease = null; // the session owns it now
            WriteVerbose($"Chat session on {Model!.Name}: template {session.Template} ({(session.TemplateFromModel ? $"recognised from the model's chat template '{session.TemplateName}'" : "as given")}), " +
                $"context {session.Capacity} tokens, {session.ToString()}.");
            WriteObject(session);
        }
        catch (Exception ex) when (ErrorMapper.IsExpected(ex) || ex is ArgumentOutOfRangeException)
        {
            WriteError(ErrorMapper.ForChat(ex, Model));
        }
        catch (Exception ex) when (ErrorMapper.IsDefect(ex))
        {
            ThrowTerminatingError(ErrorMapper.Defect(ex, Model));
        }
        finally
        {
            lease?.Dispose();
        }
    }
}
