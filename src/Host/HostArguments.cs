namespace LlmCpu.Host;

public enum OutputFormat
{
    Text,
    Json,
}

/// <summary>The command line of llmcpu, parsed the way pwsh parses its own: -Command, -File, -OutputFormat.</summary>
public sealed record HostArguments
{
    public string? Command { get; init; }

    public string? File { get; init; }

    public IReadOnlyList<string> FileArguments { get; init; } = [];

    public OutputFormat OutputFormat { get; init; } = OutputFormat.Text;

    public bool ShowHelp { get; init; }

    public bool ShowVersion { get; init; }

    /// <summary>-NonInteractive: never prompt, even with a terminal on standard input.</summary>
    public bool NonInteractive { get; init; }

    /// <summary>Neither -Command nor -File: an interactive session in a terminal, the usage text elsewhere.</summary>
    public bool NoScript => Command is null && File is null;

    public const string Usage = """
        Usage: llmcpu                      (in a terminal: an interactive session; 'exit' or Ctrl+D ends it)
               llmcpu -Command <script text> [-OutputFormat Text|Json]
               llmcpu -File <script.ps1> [arguments...] [-OutputFormat Text|Json before -File]
               llmcpu -Command -          (reads the script from standard input)

        Runs PowerShell 7.6 (with its Utility and Management modules) with the LlmCpu module imported.
          -Command, -c         The script to run.
          -File, -f            A script file; the remaining arguments are passed to it.
          -OutputFormat, -o    Text (default): objects as PowerShell formats them.
                               Json: one JSON object per output object, one per line (pieces of
                               Invoke-Generation -Stream too); text for the host (Write-Host,
                               Invoke-Generation -ShowText) goes to stderr.
          -NonInteractive      Never prompt (a missing mandatory parameter is an error). Implied
                               when standard input is not a terminal.
          -Version, -v         The versions of llmcpu, the LlmCpu module and PowerShell.
          -Help, -h, -?        This text.
        Errors, warnings and verbose messages go to standard error; progress too, when standard error is a
        terminal (set LLMCPU_PROGRESS=lines for a few progress lines in a log). The exit code is 0 on success,
        1 when the script fails (a terminating error, or errors from its last pipeline), 130 when stopped with
        Ctrl+C, or the script's own exit code.
        """;

    public static HostArguments Parse(IReadOnlyList<string> args)
    {
        var result = new HostArguments();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg.StartsWith('-') || arg.StartsWith('/') ? arg[1..] : "";
            switch (name.ToLowerInvariant())
            {
                case "command" or "c":
                    result = result with { Command = Value(args, ref i, arg) };
                    if (i + 1 < args.Count) result = result with { Command = result.Command + " " + string.Join(' ', args.Skip(i + 1)) };
                    return result;
                case "file" or "f":
                    return result with { File = Value(args, ref i, arg), FileArguments = args.Skip(i + 1).ToArray() };
                case "outputformat" or "o" or "of":
                    string format = Value(args, ref i, arg);
                    result = result with
                    {
                        OutputFormat = Enum.TryParse<OutputFormat>(format, ignoreCase: true, out var parsed)
                            ? parsed
                            : throw new ArgumentException($"-OutputFormat must be Text or Json, not '{format}'."),
                    };
                    break;
                case "help" or "h" or "?":
                    return result with { ShowHelp = true };
                case "version" or "v":
                    return result with { ShowVersion = true };
                case "noninteractive" or "noni":
                    result = result with { NonInteractive = true };
                    break;
                case "noprofile" or "nop" or "nologo":
                    break; // accepted for compatibility with pwsh command lines; llmcpu never loads profiles
                default:
                    if (name.Length == 0) return result with { File = arg, FileArguments = args.Skip(i + 1).ToArray() };
                    throw new ArgumentException($"Unknown option '{arg}'.");
            }
        }
        return result;
    }

    private static string Value(IReadOnlyList<string> args, ref int i, string option)
    {
        if (i + 1 >= args.Count) throw new ArgumentException($"{option} needs a value.");
        return args[++i];
    }
}
