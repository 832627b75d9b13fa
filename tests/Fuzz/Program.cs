using LlmCpu.Fuzz;
using SharpFuzz;

// Usage: LlmCpu.Fuzz <target> <context folder>   (run under afl-fuzz; the input arrives on standard input)
//        LlmCpu.Fuzz <target> <context folder> <input file>   (replays one input, for a finding's stack trace)
if (args.Length < 2 || !FuzzTargets.FileOf.ContainsKey(args[0]))
{
    Console.Error.WriteLine($"usage: LlmCpu.Fuzz <{string.Join('|', FuzzTargets.FileOf.Keys)}> <context folder> [input file]");
    return 2;
}
string target = args[0];
// Each process works in its own copy of the context folder: the target rewrites one of its files per input.
string work = Directory.CreateTempSubdirectory($"llmcpu-fuzz-{target}-").FullName;
foreach (string file in Directory.GetFiles(args[1])) File.Copy(file, Path.Combine(work, Path.GetFileName(file)));
try
{
    if (args.Length > 2)
    {
        FuzzTargets.Run(target, File.ReadAllBytes(args[2]), work);
        Console.WriteLine("no crash");
        return 0;
    }
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        FuzzTargets.Run(target, buffer.ToArray(), work);
    });
    return 0;
}
finally
{
    Directory.Delete(work, recursive: true);
}
