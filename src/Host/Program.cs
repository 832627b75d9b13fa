using LlmCpu.Host;

// Ctrl+C is taken before anything else, so one that comes while the host starts (loading the module, reading the
// script from standard input) stops the script too, rather than being lost between two pipelines. A second Ctrl+C
// while the first is still being handled is left to end the process.
var interrupts = new InterruptHandler();
Console.CancelKeyPress += (_, e) => e.Cancel = interrupts.Interrupt();

HostArguments arguments;
try
{
    arguments = HostArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine("llmcpu: " + ex.Message);
    Console.Error.WriteLine(HostArguments.Usage);
    return 64;
}
if (arguments.ShowHelp)
{
    Console.WriteLine(HostArguments.Usage);
    return 0;
}
if (arguments.ShowVersion)
{
    Console.WriteLine("llmcpu " + VersionText.Describe());
    return 0;
}
if (arguments.File is { } file && !File.Exists(file))
{
    Console.Error.WriteLine($"llmcpu: The script file '{file}' does not exist.");
    return 64;
}
// Interactive only with a person at a terminal: elsewhere a prompt would wait for input that never comes.
bool interactive = !arguments.NonInteractive && !Console.IsInputRedirected;
if (arguments.NoScript && !interactive)
{
    Console.WriteLine(HostArguments.Usage);
    return 0;
}

// In JSON mode standard output is one JSON object per line and nothing else (the pieces of Invoke-Generation -Stream
// are objects, so they are lines too): text for the host (Write-Host, Invoke-Generation -ShowText) goes to standard error.
using var session = HostSession.Open(arguments.OutputFormat == OutputFormat.Json ? Console.Error : Console.Out, Console.Error, interactive);
if (session is null) return 70;
var runner = new ScriptRunner(session, Console.Out, arguments.OutputFormat, interrupts);
if (arguments.NoScript)
{
    // From here Ctrl+C stops the command running when it comes, and at the prompt does nothing.
    interrupts.BeginInteractive();
    return new Repl(session, runner, Console.In, Console.Out).Run();
}
string script = arguments.Command == "-" ? Console.In.ReadToEnd() : arguments.Command ?? ScriptRunner.BuildFileInvocation(arguments.File!, arguments.FileArguments);
return runner.Run(script);
