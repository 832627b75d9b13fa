using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace LlmCpu.Host;

/// <summary>
/// The host's UI: what Out-Default and Write-Host-style calls write goes to <paramref name="hostText"/> (standard
/// output, except in JSON mode, where standard output carries only JSON lines and host text goes to standard error);
/// errors, warnings, verbose and debug go to <c>stderr</c>, and progress too when it is a terminal (see
/// <see cref="ProgressMode"/>). Prompts read standard input when <paramref name="interactive"/>; otherwise every prompt
/// is an error, so a missing mandatory parameter fails at once instead of waiting for input that never comes.
/// </summary>
internal sealed class HostUserInterface(TextWriter hostText, TextWriter stderr, bool interactive) : PSHostUserInterface
{
    private readonly HostRawUserInterface _raw = new();
    private readonly ProgressLines _progressLines = new();
    private readonly ProgressMode _progress = ProgressModes.ForStandardError();
    private bool _progressShown;

    public override PSHostRawUserInterface RawUI => _raw;

    public override void Write(string value) => Out(value, newLine: false);

    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Out(value, newLine: false);

    public override void WriteLine(string value) => Out(value, newLine: true);

    public override void WriteErrorLine(string value) => Err(value);

    public override void WriteDebugLine(string message) => Err("DEBUG: " + message);

    public override void WriteVerboseLine(string message) => Err("VERBOSE: " + message);

    public override void WriteWarningLine(string message) => Err("WARNING: " + message);

    public override void WriteInformation(InformationRecord record)
    {
        // Write-Host style messages (tagged PSHOST) reach the UI through Write/WriteLine already.
    }

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        if (_progress == ProgressMode.None) return;
        string line = $"{record.Activity}: {record.StatusDescription}" + (record.PercentComplete >= 0 ? $" ({record.PercentComplete}%)" : "");
        lock (this)
        {
            if (_progress == ProgressMode.Lines)
            {
                if (_progressLines.LineFor(sourceId, record) is { } throttled) stderr.WriteLine(throttled);
                return;
            }
            if (record.RecordType == ProgressRecordType.Completed)
            {
                ClearProgress();
                return;
            }
            stderr.Write("\r\u001b[2K" + line);
            _progressShown = true;
        }
    }

    public override bool SupportsVirtualTerminal => !Console.IsOutputRedirected;

    /// <summary>Strips escape sequences unless they reach a terminal and $PSStyle.OutputRendering allows them, as pwsh's console host does.</summary>
    private static string Render(string value, bool redirected)
    {
        var rendering = PSStyle.Instance.OutputRendering;
        bool plain = rendering == OutputRendering.PlainText || (rendering == OutputRendering.Host && redirected);
        return plain && value.Contains('\u001b') ? new System.Management.Automation.Internal.StringDecorated(value).ToString(OutputRendering.PlainText) : value;
    }

    private void Out(string value, bool newLine)
    {
        value = Render(value, ReferenceEquals(hostText, stderr) ? Console.IsErrorRedirected : Console.IsOutputRedirected);
        lock (this)
        {
            ClearProgress();
            if (newLine) hostText.WriteLine(value); else hostText.Write(value);
            hostText.Flush();
        }
    }

    private void Err(string value)
    {
        value = Render(value, Console.IsErrorRedirected);
        lock (this)
        {
            ClearProgress();
            stderr.WriteLine(value);
            stderr.Flush();
        }
    }

    internal void ClearProgress()
    {
        if (!_progressShown) return;
        stderr.Write("\r\u001b[2K");
        _progressShown = false;
    }

    /// <summary>Whether prompts may read standard input (a person at a terminal, -NonInteractive not given).</summary>
    public bool IsInteractive => interactive;

    private PSInvalidOperationException NotInteractive(string what) => new(
        $"llmcpu is not interactive (standard input is not a terminal, or -NonInteractive was given) and cannot {what}.");

    public override string ReadLine()
    {
        if (!interactive) throw NotInteractive("read input");
        return Console.In.ReadLine() ?? "";
    }

    public override SecureString ReadLineAsSecureString()
    {
        var secure = new SecureString();
        foreach (char c in ReadLine()) secure.AppendChar(c);
        return secure;
    }

    // PowerShell's parameter binder turns the exception into its MissingMandatoryParameter error.
    public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions)
    {
        if (!interactive) throw NotInteractive($"prompt for {string.Join(", ", descriptions.Select(d => d.Name))}");
        if (!string.IsNullOrEmpty(message)) Err(message);
        var result = new Dictionary<string, PSObject>();
        foreach (var field in descriptions)
        {
            lock (this)
            {
                stderr.Write($"{field.Name}: ");
                stderr.Flush();
            }
            result[field.Name] = new PSObject(ReadLine());
        }
        return result;
    }

    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
    {
        if (!interactive) throw NotInteractive("ask for a choice; pass -Confirm:$false or -Force");
        string labels = string.Join(" ", choices.Select((c, i) => $"[{HotKey(c)}] {c.Label.Replace("&", "")}{(i == defaultChoice ? " (default)" : "")}"));
        while (true)
        {
            Err($"{caption}\n{message}\n{labels}: ");
            string answer = ReadLine().Trim();
            if (answer.Length == 0 && defaultChoice >= 0) return defaultChoice;
            for (int i = 0; i < choices.Count; i++)
            {
                if (answer.Equals(HotKey(choices[i]), StringComparison.OrdinalIgnoreCase)
                    || answer.Equals(choices[i].Label.Replace("&", ""), StringComparison.OrdinalIgnoreCase)) return i;
            }
        }
    }

    /// <summary>The letter after '&amp;' in a choice's label ("&amp;Yes" is Y).</summary>
    private static string HotKey(ChoiceDescription choice)
    {
        int amp = choice.Label.IndexOf('&');
        return amp >= 0 && amp + 1 < choice.Label.Length ? choice.Label[amp + 1].ToString() : choice.Label;
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
        throw new PSInvalidOperationException("llmcpu cannot ask for credentials; pass a PSCredential object.");

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
        PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
        PromptForCredential(caption, message, userName, targetName);
}

/// <summary>Console geometry for the formatter: the terminal's width, or 120 columns when output is redirected.</summary>
internal sealed class HostRawUserInterface : PSHostRawUserInterface
{
    private static int Width => Console.IsOutputRedirected ? 120 : Math.Max(40, SafeWidth());

    private static int SafeWidth()
    {
        try { return Console.WindowWidth; } catch (IOException) { return 120; }
    }

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

    public override Size BufferSize { get => new(Width, 9999); set { } }

    public override Coordinates CursorPosition { get; set; }

    public override int CursorSize { get; set; } = 1;

    public override bool KeyAvailable => false;

    public override Size MaxPhysicalWindowSize => new(Width, 50);

    public override Size MaxWindowSize => new(Width, 50);

    public override Coordinates WindowPosition { get; set; }

    public override Size WindowSize { get => new(Width, 50); set { } }

    public override string WindowTitle { get; set; } = "llmcpu";

    public override void FlushInputBuffer() { }

    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();

    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("llmcpu does not read keys.");

    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }

    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }

    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
}
