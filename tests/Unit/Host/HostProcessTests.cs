using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Host;

/// <summary>The llmcpu host as a user runs it: a child process, its stdout, stderr and exit code.</summary>
public sealed class HostProcessTests
{
    private static (int ExitCode, string Stdout, string Stderr) RunHost(params string[] args) => HostProcess.Run(args);

    private static (int ExitCode, string Stdout, string Stderr) RunHost(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        HostProcess.Run(environment, args);

    [Fact]
    public void CommandGeneratesTextRenderedAsPowerShellRendersIt()
    {
        var (code, stdout, stderr) = RunHost("-Command", "Import-Model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 16 -Seed 3");
        Assert.True(code == 0, stderr);
        Assert.Matches(@"(?m)^Prompt\s+: It is a truth universally acknowledged", stdout);
        Assert.Matches(@"(?m)^Text\s+:.*\w", stdout);
        Assert.DoesNotContain("\u001b[", stdout);
    }

    [Fact]
    public void JsonOutputIsOneObjectPerLine()
    {
        var (code, stdout, stderr) = RunHost("-OutputFormat", "Json", "-Command", "$m = Import-Model; 'She was not', 'Mr. Darcy' | Invoke-Generation -Model $m -MaxTokens 3 -Seed 9");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        foreach (string line in lines)
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal(3, json.RootElement.GetProperty("GeneratedTokens").GetInt32());
            Assert.Equal("MaxTokens", json.RootElement.GetProperty("StopReason").GetString());
            Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("Text").ValueKind);
        }
    }

    [Fact]
    public void AWrittenFileIsItsPathInJsonAndAFileSystemItemInText()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-file-").FullName;
        try
        {
            string file = Path.Combine(folder, "a.gguf");
            var (code, stdout, stderr) = RunHost("-OutputFormat", "Json", "-Command", $"Import-Model | ConvertTo-Gguf '{file}'");
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            // Once 3.4 KB: the FileInfo's directory, its parent, its root and their properties.
            Assert.Equal(["FullName", "Name", "Length", "LastWriteTimeUtc"], json.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(file, json.RootElement.GetProperty("FullName").GetString());
            Assert.Equal(new FileInfo(file).Length, json.RootElement.GetProperty("Length").GetInt64());

            var (textCode, text, textErr) = RunHost("-Command", $"Import-Model | ConvertTo-Gguf '{file}' -Force");
            Assert.True(textCode == 0, textErr);
            Assert.Contains($"Directory: {folder}", text);
            // The mode, owner and size columns were blank for a FileInfo made by the cmdlet rather than the provider.
            Assert.Matches($@"(?m)^-rw\S*\s+\S+\s+\S+\s+.*\s{new FileInfo(file).Length} a\.gguf\s*$", text);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ATerminatingErrorExitsNonZeroWithTheErrorIdOnStderr()
    {
        var (code, stdout, stderr) = RunHost("-Command", "Import-Model -Path /no/such/model -ErrorAction Stop; 'not reached'");
        Assert.Equal(1, code);
        Assert.DoesNotContain("not reached", stdout);
        Assert.Contains("ModelNotFound", stderr);
    }

    [Fact]
    public void FileRunsAScriptWithArgumentsAndReturnsItsExitCode()
    {
        string script = Path.Combine(Path.GetTempPath(), $"llmcpu-{Guid.NewGuid()}.ps1");
        File.WriteAllText(script, "param([string]$Name, [int]$Code) \"hello $Name\"; exit $Code");
        try
        {
            var (code, stdout, _) = RunHost("-File", script, "-Name", "Emma Woodhouse", "-Code", "7");
            Assert.Equal(7, code);
            Assert.Contains("hello Emma Woodhouse", stdout);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Fact]
    public void TheBuildScriptRunsUnderTheHostAndTheCommittedHelpIsWhatTheDocsGenerate()
    {
        string help = Directory.CreateTempSubdirectory("llmcpu-help-").FullName;
        try
        {
            var (code, stdout, stderr) = RunHost("-File", Path.Combine(RepoPaths.Root, "build.ps1"), "-Task", "Docs", "-HelpPath", help);
            Assert.True(code == 0, stderr);
            Assert.Contains("Every exported cmdlet has a page in docs/.", stdout);
            foreach (string name in new[] { "LlmCpu.Module.dll-Help.xml", "about_LlmCpu.help.txt" })
            {
                // After editing docs/, run build.ps1 -Task Docs and commit src/Module/en-US.
                Assert.True(File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "Module", "en-US", name)) == File.ReadAllText(Path.Combine(help, name)),
                    $"src/Module/en-US/{name} differs from what docs/ generates: run build.ps1 -Task Docs");
            }
        }
        finally
        {
            Directory.Delete(help, recursive: true);
        }
    }

    [SkippableFact]
    public void CtrlCStopsTheRunningPipelineAndExits130()
    {
        Skip.IfNot(HostProcess.CanStartWithInterruptEnabled(), "SIGINT is sent with kill(1) to a host started through GNU env --default-signal, which this system lacks.");
        using var process = HostProcess.StartWithInterruptEnabled("-Command",
            "$m = Import-Model; 'started'; while ($true) { $m | Invoke-Generation -Prompt 'She' -MaxTokens 200 -Temperature 1 | Out-Null }");
        try
        {
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.Equal("started", process.StandardOutput.ReadLine());
            Thread.Sleep(1000); // generating now
            var clock = Stopwatch.StartNew();
            HostProcess.SendInterrupt(process);
            Assert.True(process.WaitForExit(15_000), "llmcpu did not stop within 15 s of SIGINT");
            Assert.Equal(130, process.ExitCode);
            Assert.Contains("Stopped.", stderr.Result);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15));
        }
        finally
        {
            // A host that ignored the signal would otherwise loop on after the test, taking a core from everything else.
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [SkippableFact]
    public void CtrlCWhileTheHostWaitsForItsScriptStopsTheScriptBeforeItRuns()
    {
        // No pipeline runs yet: a Ctrl+C here was once taken and dropped, and the script then ran to its end.
        Skip.IfNot(OperatingSystem.IsLinux(), "The test sees the host wait on standard input through /proc/<pid>/syscall, which only Linux has.");
        Skip.IfNot(HostProcess.CanStartWithInterruptEnabled(), "SIGINT is sent with kill(1) to a host started through GNU env --default-signal, which this system lacks.");
        using var process = HostProcess.StartWithInterruptEnabled("-Command", "-");
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Skip.IfNot(WaitUntilReadingStandardInput(process, TimeSpan.FromSeconds(60)), "/proc/<pid>/syscall of the host cannot be read here.");
            HostProcess.SendInterrupt(process);
            Thread.Sleep(200); // the signal is handled on a thread of its own
            process.StandardInput.WriteLine("'ran'");
            process.StandardInput.Close();
            Assert.True(process.WaitForExit(30_000), "llmcpu did not end within 30 s of its script");
            Assert.Equal(130, process.ExitCode);
            Assert.DoesNotContain("ran", stdout.Result);
            Assert.Contains("Stopped.", stderr.Result);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>
    /// Waits until the host's main thread is blocked reading standard input (-Command -), so it has started and taken
    /// Ctrl+C. Linux: /proc/PID/syscall names the system call and its first argument, the descriptor. False when that
    /// file cannot be read.
    /// </summary>
    private static bool WaitUntilReadingStandardInput(Process process, TimeSpan timeout)
    {
        int read = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? 63 : 0;
        string proc = $"/proc/{process.Id}";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !process.HasExited)
        {
            try
            {
                string[] call = File.ReadAllText($"{proc}/syscall").Split(' ');
                // .NET reads a duplicate of descriptor 0: the same pipe under another number.
                if (call.Length > 1 && call[0] == read.ToString() && new FileInfo($"{proc}/fd/{Convert.ToInt32(call[1], 16)}").LinkTarget is { } target
                    && target == new FileInfo($"{proc}/fd/0").LinkTarget)
                    return true;
            }
            catch (UnauthorizedAccessException)
            {
                return false;
            }
            catch (IOException)
            {
                // the process is ending; HasExited says so on the next turn
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"llmcpu did not wait for its script on standard input within {timeout.TotalSeconds} s");
        return false;
    }

    [Fact]
    public void JsonModeWritesStreamedPiecesAsJsonLines()
    {
        var (code, stdout, stderr) = RunHost("-OutputFormat", "Json", "-Command",
            "Import-Model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -Stream -PassThru -MaxTokens 12 -Seed 2");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.True(lines.Length >= 3, stdout);
        var pieces = lines[..^1];
        Assert.All(pieces, p =>
        {
            Assert.Equal(["Text", "TokenId", "Index", "PromptIndex"], p.EnumerateObject().Select(property => property.Name));
            Assert.Equal(JsonValueKind.Number, p.GetProperty("TokenId").ValueKind);
        });
        string text = lines[^1].GetProperty("Text").GetString()!;
        Assert.Equal(12, lines[^1].GetProperty("GeneratedTokens").GetInt32());
        Assert.Equal(text, string.Concat(pieces.Select(p => p.GetProperty("Text").GetString())));
    }

    [Fact]
    public void JsonModeWithShowTextKeepsStandardOutputToJsonLines()
    {
        var (code, stdout, stderr) = RunHost("-OutputFormat", "Json", "-Command",
            "Import-Model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -ShowText -MaxTokens 12 -Seed 2");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var json = JsonDocument.Parse(Assert.Single(lines));
        string text = json.RootElement.GetProperty("Text").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(text));
        // The text shown as it comes goes to standard error in JSON mode.
        Assert.Contains(text.Trim(), stderr);
    }

    [Fact]
    public void ProgressToARedirectedStandardErrorIsOffUnlessLinesAreAskedFor()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-progress-").FullName;
        try
        {
            string script = $"Import-Model | ConvertTo-Gguf '{folder}/a.gguf' -Force | Out-Null";
            var (code, _, quiet) = RunHost("-Command", script);
            Assert.True(code == 0, quiet);
            Assert.DoesNotContain("Exporting GGUF", quiet);
            Assert.DoesNotContain("Loading model", quiet);

            var (linesCode, _, stderr) = RunHost(new Dictionary<string, string> { ["LLMCPU_PROGRESS"] = "lines" }, "-Command", script);
            Assert.True(linesCode == 0, stderr);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("Exporting GGUF")).ToArray();
            // One line per tensor once came to 77 lines that never reached 100%.
            Assert.InRange(lines.Length, 2, 6);
            Assert.EndsWith("done (100%)", lines[^1].TrimEnd());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void TheKernelPathVariableLowersThePathWithTheSameTokens()
    {
        const string script = "Import-Model -Precision Int4 -GroupSize 32 -Verbose | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 16 | ForEach-Object Text";
        var (code, best, bestErr) = RunHost("-Command", script);
        Assert.True(code == 0, bestErr);
        foreach (string path in new[] { "Scalar", "Vector128" })
        {
            var (forcedCode, forced, forcedErr) = RunHost(new Dictionary<string, string> { ["LLMCPU_KERNEL_PATH"] = path }, "-Command", script);
            Assert.True(forcedCode == 0, forcedErr);
            Assert.Contains($"Kernel path: {path} (supported:", forcedErr);
            // INT8 activations: every path gives the reference's bits, so the same greedy text.
            Assert.Equal(best, forced);
        }
    }

    [Fact]
    public void GetHelpShowsTheHelpGeneratedFromTheDocs()
    {
        var (code, stdout, stderr) = RunHost("-Command",
            "Get-Help Import-Model -Full | Out-Default; Get-Help Invoke-Generation -Examples | Out-Default; " +
            "Get-Help ConvertTo-Gguf -Parameter Type | Out-Default; Get-Help about_LlmCpu | Out-Default");
        Assert.True(code == 0, stderr);
        // Text that only the MAML and the about file hold: without them Get-Help prints the syntax alone.
        Assert.Contains("Loads a language model from disk, ready for Invoke-Generation.", stdout);
        Assert.Contains("Quantized blocks are never quantized again behind your back", stdout);
        Assert.Contains("Example 6: Keep what was streamed, even after Ctrl+C", stdout);
        Assert.Contains("Type of the layer matrices", stdout);
        Assert.Contains("SHORT DESCRIPTION", stdout);
        Assert.Contains("Runs large language models on ordinary CPUs from PowerShell.", stdout);
    }

    [Fact]
    public void UnknownOptionsPrintUsage()
    {
        var (code, _, stderr) = RunHost("-Bogus");
        Assert.Equal(64, code);
        Assert.Contains("Usage:", stderr);
    }
}
