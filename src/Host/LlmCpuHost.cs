using System.Globalization;
using System.Management.Automation.Host;

namespace LlmCpu.Host;

/// <summary>The PSHost of llmcpu: a non-interactive console host whose UI writes to stdout/stderr.</summary>
internal sealed class LlmCpuHost(HostUserInterface ui) : PSHost
{
    private static readonly Guid HostId = Guid.NewGuid();

    public int? ExitCode { get; private set; }

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    public override Guid InstanceId => HostId;

    public override string Name => "llmcpu";

    public override PSHostUserInterface UI => ui;

    public override Version Version => typeof(LlmCpuHost).Assembly.GetName().Version ?? new Version(0, 0);

    public override void EnterNestedPrompt() => throw new NotSupportedException("llmcpu has no nested prompt.");

    public override void ExitNestedPrompt() => throw new NotSupportedException("llmcpu has no nested prompt.");

    public override void NotifyBeginApplication() { }

    public override void NotifyEndApplication() { }

    /// <summary>Called by the 'exit' keyword at script level.</summary>
    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
}
