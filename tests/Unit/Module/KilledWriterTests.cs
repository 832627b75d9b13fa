using System.Diagnostics;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Module;

/// <summary>
/// A writer killed outright (SIGKILL: no finally block, no cleanup) half way through a large file: the file it was
/// replacing is untouched, the only trace is a dot-file named for the destination, the writer's process id and a unique
/// ".partial" suffix, and the next write to the same destination succeeds, yields a model that loads, and deletes that
/// leftover (its process no longer runs) but not the temporary file of a writer still running.
/// </summary>
public sealed class KilledWriterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmcpu-killed-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("Llmc", "model.llmc", "ConvertTo-Int4Model -Path $fixture -Destination $dst -Force")]
    [InlineData("GgufQ4_0", "model.gguf", "Import-Model | ConvertTo-Gguf -Destination $dst -Type Q4_0 -Force")]
    public void AKilledWriteLeavesThePreviousFileAndNothingThatBlocksTheNextWrite(string format, string name, string nextWrite)
    {
        string destination = Path.Combine(_folder, name);
        byte[] previous = "the previous file, which must survive"u8.ToArray();
        File.WriteAllBytes(destination, previous);

        // A 1.1B-parameter synthetic model: hundreds of megabytes, seconds to write, so the kill lands mid-write.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(RepoPaths.HostAssembly);
        start.ArgumentList.Add("-NonInteractive");
        start.ArgumentList.Add("-Command");
        start.ArgumentList.Add($"New-SyntheticModel -Shape TinyLlama-1.1B -Destination '{destination}' -Format {format} -Force");
        using var writer = Process.Start(start)!;
        _ = writer.StandardOutput.ReadToEndAsync();
        _ = writer.StandardError.ReadToEndAsync();
        string? partial = WaitForPartialFile(writer, minimumBytes: 64L << 20);
        writer.Kill(); // SIGKILL on Linux and macOS
        writer.WaitForExit();
        Assert.NotNull(partial);
        output.WriteLine($"killed while {Path.GetFileName(partial)} held {new FileInfo(partial).Length >> 20} MiB");

        Assert.Equal(previous, File.ReadAllBytes(destination));
        var leftovers = Directory.GetFiles(_folder).Select(Path.GetFileName).Where(f => f != name).ToArray();
        Assert.Matches($@"^\.{System.Text.RegularExpressions.Regex.Escape(name)}\.{writer.Id}-[0-9a-f]{{32}}\.partial$", Assert.Single(leftovers));
        // A live writer's temporary file (this process's) must survive the next write's sweep.
        string live = Path.Combine(_folder, $".{name}.{Environment.ProcessId}-{Guid.NewGuid():N}.partial");
        File.WriteAllBytes(live, [1, 2, 3]);

        using var ps = new PowerShellSession();
        var next = ps.Run($"{nextWrite}; Import-Model -LiteralPath $dst | Select-Object -ExpandProperty LayerCount",
            new Dictionary<string, object?> { ["dst"] = destination, ["fixture"] = RepoPaths.FixtureModel });
        Assert.Empty(next.Errors);
        Assert.Equal(8, Convert.ToInt32(next.Output.Last().BaseObject));
        // The next write left no file of its own behind and removed the killed one's; the live writer's is untouched.
        Assert.Equal(Path.GetFileName(live), Assert.Single(Directory.GetFiles(_folder).Select(Path.GetFileName), f => f != name));
    }

    private string? WaitForPartialFile(Process writer, long minimumBytes)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(90) && !writer.HasExited)
        {
            var partial = Directory.GetFiles(_folder, "*.partial").FirstOrDefault();
            if (partial != null && new FileInfo(partial).Length >= minimumBytes) return partial;
            Thread.Sleep(20);
        }
        return null;
    }
}
