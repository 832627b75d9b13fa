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
if (arguments.File is { } file && !File.Exists(file))
{
    Console.Error.WriteLine($"llmcpu: The script file '{file}' does not exist.");
    return 64;
}

var runner = new ScriptRunner(Console.Out, Console.Error);
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl+C stops the pipeline cleanly; a second one (while stopping) ends the process.
    e.Cancel = true;
    runner.Stop();
};
return runner.Run(arguments);
