using LlmCpu.Host;

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
var runner = new ScriptRunner(session, Console.Out, arguments.OutputFormat);
Console.CancelKeyPress += (_, e) =>
{
    // Ctrl+C stops the running pipeline cleanly (at an interactive prompt it does nothing); a second one while the
    // pipeline is still stopping ends the process.
    if (runner.IsStopping) return;
    e.Cancel = true;
    runner.Stop();
};
if (arguments.NoScript) return new Repl(session, runner, Console.In, Console.Out).Run();
string script = arguments.Command == "-" ? Console.In.ReadToEnd() : arguments.Command ?? ScriptRunner.BuildFileInvocation(arguments.File!, arguments.FileArguments);
return runner.Run(script);
