using System.Diagnostics;
using System.Text.Json;

namespace LlmCpu.Tests.Support;

/// <summary>
/// llama.cpp as node-llama-cpp ships it (prebuilt CPU binaries), installed with npm into a cache folder outside the
/// repository and reused across runs. When node or npm is missing or the install fails, <see cref="SkipReason"/>
/// says why, and tests that need it skip with that message.
/// </summary>
public sealed class NodeLlamaCpp
{
    public const string Version = "3.22.1";
    private const string ScriptName = "greedy-tokens.mjs";

    // Never build llama.cpp from source or fetch binaries at run time; the npm package carries what is needed.
    private static readonly Dictionary<string, string> Environment = new() { ["NODE_LLAMA_CPP_SKIP_DOWNLOAD"] = "true" };

    private readonly string? _node;

    public NodeLlamaCpp()
    {
        Folder = Path.Combine(Path.GetTempPath(), "llmcpu-node-llama-cpp");
        _node = FindOnPath("node");
        string? npm = FindOnPath("npm");
        if (_node == null) SkipReason = "node is not on PATH, so the GGUF files could not be run with llama.cpp (node-llama-cpp).";
        else if (npm == null) SkipReason = "npm is not on PATH, so node-llama-cpp could not be installed.";
        else SkipReason = IsInstalled() ? null : InstallOnce(npm);
    }

    /// <summary>Why llama.cpp cannot be run here; null when it can.</summary>
    public string? SkipReason { get; }

    public string Folder { get; }

    /// <param name="Logits">For each generated token, the raw logits llama.cpp picked it from.</param>
    public sealed record GreedyResult(int[] PromptIds, int[] Tokens, float[][] Logits);

    /// <summary>The prompt's token ids (llama.cpp's tokenizer, BOS first) and <paramref name="count"/> greedy tokens with their logits.</summary>
    public GreedyResult Greedy(string modelPath, string prompt, int count)
    {
        if (SkipReason != null) throw new InvalidOperationException(SkipReason);
        // The script resolves node-llama-cpp from its own folder, so it runs from the install folder.
        File.Copy(Path.Combine(AppContext.BaseDirectory, ScriptName), Path.Combine(Folder, ScriptName), overwrite: true);
        var (exitCode, stdout, stderr) = Run(_node!, [ScriptName, modelPath, prompt, count.ToString()], TimeSpan.FromMinutes(5));
        string? line = stdout.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (exitCode != 0 || line == null)
            throw new InvalidOperationException($"node {ScriptName} failed (exit {exitCode}):\n{stdout}\n{stderr}");
        using var json = JsonDocument.Parse(line["RESULT ".Length..]);
        int[] Ids(string name) => json.RootElement.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var logits = json.RootElement.GetProperty("logits").EnumerateArray()
            .Select(step => step.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        return new GreedyResult(Ids("promptIds"), Ids("tokens"), logits);
    }

    private bool IsInstalled()
    {
        string package = Path.Combine(Folder, "node_modules", "node-llama-cpp", "package.json");
        if (!File.Exists(package)) return false;
        using var json = JsonDocument.Parse(File.ReadAllBytes(package));
        return json.RootElement.GetProperty("version").GetString() == Version
               && Directory.Exists(Path.Combine(Folder, "node_modules", "@node-llama-cpp"));
    }

    /// <summary>Installs under a lock file, so that test runs from several checkouts never install into the folder at once.</summary>
    private string? InstallOnce(string npm)
    {
        try
        {
            Directory.CreateDirectory(Folder);
            using var installLock = AcquireLock(Path.Combine(Folder, ".install.lock"), TimeSpan.FromMinutes(20));
            return IsInstalled() ? null : Install(npm);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or TimeoutException)
        {
            return $"npm install node-llama-cpp@{Version} failed: {ex.Message}";
        }
    }

    private static FileStream AcquireLock(string path, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (clock.Elapsed < timeout)
            {
                Thread.Sleep(1000);
            }
        }
    }

    private string? Install(string npm)
    {
        try
        {
            // Its own package.json keeps npm from looking for a project in the folders above.
            string manifest = Path.Combine(Folder, "package.json");
            if (!File.Exists(manifest)) File.WriteAllText(manifest, """{ "name": "llmcpu-node-llama-cpp", "private": true }""");
            var (exitCode, stdout, stderr) = Run(npm,
                ["install", "--no-audit", "--no-fund", "--save-exact", "--ignore-scripts", $"node-llama-cpp@{Version}"], TimeSpan.FromMinutes(15));
            if (exitCode != 0) return $"npm install node-llama-cpp@{Version} failed (exit {exitCode}) in {Folder}:\n{Tail(stdout)}\n{Tail(stderr)}";
            return IsInstalled() ? null : $"npm install node-llama-cpp@{Version} finished but the package is not in {Folder}.";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or TimeoutException)
        {
            return $"npm install node-llama-cpp@{Version} failed: {ex.Message}";
        }
    }

    private (int ExitCode, string Stdout, string Stderr) Run(string program, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in Environment) start.Environment[name] = value;
        using var process = Process.Start(start) ?? throw new IOException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} did not finish within {timeout}.");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string Tail(string text) => text.Length <= 2000 ? text : text[^2000..];

    private static string? FindOnPath(string name)
    {
        string[] names = OperatingSystem.IsWindows() ? [name + ".exe", name + ".cmd"] : [name];
        foreach (string folder in (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string candidate in names)
            {
                string path = Path.Combine(folder, candidate);
                if (File.Exists(path)) return path;
            }
        }
        return null;
    }
}
