using System.Diagnostics;
using LlmCpu.Engine;
using LlmCpu.Kernels.Memory;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Runs damaged inputs through a reader and holds it to the contract every reader promises: each case either loads
/// or is refused with an exception the module maps to one of the reader's documented ErrorIds, naming a file of the
/// case and the field at fault; no case hangs, takes long, or allocates more than its bytes justify. What loads is
/// then used (a short generation for a model, encoding for a tokenizer), where the same rules hold.
/// Failures are collected over the whole run and reported together with the damage that caused each.
/// </summary>
public sealed class HostileCampaign(string reader, ITestOutputHelper output)
{
    /// <summary>A case slower than this is a failure: tiny inputs load in milliseconds, so seconds mean a blow-up.</summary>
    public static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(5);

    /// <summary>A case still running after this is reported as a hang (the test fails instead of waiting forever).</summary>
    public static readonly TimeSpan Hang = TimeSpan.FromSeconds(60);

    /// <summary>ErrorIds a refusal may carry; Import-Model's for a damaged or unsupported file by default.</summary>
    public ISet<string> AllowedErrorIds { get; init; } = new HashSet<string> { "ModelFormatInvalid", "ModelNotSupported" };

    /// <summary>Opens the case's folder: returns what was loaded (disposed after use) or throws.</summary>
    public required Func<string, object?> Load { get; init; }

    /// <summary>The path handed to the error mapping as the target, relative to the case folder ("" for the folder).</summary>
    public string Target { get; init; } = "";

    /// <summary>Uses what loaded; may throw only exceptions of <see cref="ExerciseMayThrow"/>.</summary>
    public Action<object>? Exercise { get; init; }

    public Func<Exception, bool> ExerciseMayThrow { get; init; } = ex => ex is ModelNumericException or GenerationArgumentException;

    /// <summary>
    /// Bytes a case may allocate while loading: a multiple of its input (a quantized tensor converted to FP32 grows about
    /// 7 times; tokenizers build tables several times their text) plus a fixed allowance for the runtime's own work.
    /// </summary>
    public Func<long, long> AllocationBudget { get; init; } = inputBytes => 24 * inputBytes + (32L << 20);

    public HostileSummary Run(IEnumerable<HostileCase> cases)
    {
        var summary = new HostileSummary(reader);
        var failures = new List<string>();
        string folder = Directory.CreateTempSubdirectory("llmcpu-hostile-").FullName;
        string current = "(starting)";
        long caseStarted = Stopwatch.GetTimestamp();
        Exception? crashed = null;
        var worker = new Thread(() =>
        {
            try
            {
                foreach (var hostile in cases)
                {
                    Volatile.Write(ref current, hostile.Damage);
                    Volatile.Write(ref caseStarted, Stopwatch.GetTimestamp());
                    string? failure = RunCase(hostile, folder, summary);
                    if (failure != null && failures.Count < 12) failures.Add($"{hostile.Damage}: {failure}");
                    else if (failure != null) summary.ExtraFailures++;
                }
            }
            catch (Exception ex)
            {
                crashed = ex;
            }
        }, 16 << 20) { IsBackground = true, Name = "hostile " + reader };
        var total = Stopwatch.StartNew();
        worker.Start();
        while (!worker.Join(250))
        {
            if (Stopwatch.GetElapsedTime(Volatile.Read(ref caseStarted)) > Hang)
                Assert.Fail($"{reader}: case '{Volatile.Read(ref current)}' has run for more than {Hang.TotalSeconds} s: a hang.");
        }
        summary.Elapsed = total.Elapsed;
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        if (crashed != null) throw new InvalidOperationException($"{reader}: the case generator failed", crashed);
        output.WriteLine(summary.ToString());
        HostileReport.Append(summary);
        if (failures.Count > 0)
            Assert.Fail($"{reader}: {failures.Count + summary.ExtraFailures} of {summary.Cases} cases broke the contract:\n" + string.Join("\n", failures));
        return summary;
    }

    private string? RunCase(HostileCase hostile, string folder, HostileSummary summary)
    {
        foreach (string stale in Directory.EnumerateFileSystemEntries(folder)) File.Delete(stale);
        foreach (var (name, bytes) in hostile.Files) File.WriteAllBytes(Path.Combine(folder, name), bytes);
        string target = Target.Length == 0 ? folder : Path.Combine(folder, Target);

        long before = AllocatedBytes();
        long started = Stopwatch.GetTimestamp();
        object? loaded = null;
        Exception? refused = null;
        try
        {
            loaded = Load(folder);
        }
        catch (Exception ex)
        {
            refused = ex;
        }
        var loadTime = Stopwatch.GetElapsedTime(started);
        long allocated = AllocatedBytes() - before;
        try
        {
            summary.Record(loadTime, allocated, hostile.TotalBytes);
            if (allocated > AllocationBudget(hostile.TotalBytes))
                return $"allocated {allocated:N0} bytes for {hostile.TotalBytes:N0} bytes of input (budget {AllocationBudget(hostile.TotalBytes):N0})";
            if (refused != null) return CheckRefusal(refused, target, folder, summary);
            summary.Loaded++;
            if (loaded != null && Exercise != null)
            {
                try
                {
                    Exercise(loaded);
                    summary.Used++;
                }
                catch (Exception ex) when (ExerciseMayThrow(ex))
                {
                    summary.UseRefused++;
                }
                catch (Exception ex)
                {
                    return "loaded, then failed in use: " + Describe(ex);
                }
            }
            var time = Stopwatch.GetElapsedTime(started);
            return time > SlowCase ? $"took {time.TotalSeconds:F1} s" : null;
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    private string? CheckRefusal(Exception exception, string target, string folder, HostileSummary summary)
    {
        if (ModuleErrorMapping.IsDefect(exception)) return "a defect (InternalError): " + Describe(exception);
        var record = ModuleErrorMapping.ForLoad(exception, target);
        string id = record.FullyQualifiedErrorId;
        if (!AllowedErrorIds.Contains(id)) return $"refused as {id}, not one of {string.Join(", ", AllowedErrorIds)}: " + Describe(exception);
        if (exception is ModelFormatException format)
        {
            if (string.IsNullOrWhiteSpace(format.Field)) return "refused without naming the field: " + Describe(exception);
            if (!Path.GetFullPath(format.FilePath).StartsWith(folder, StringComparison.Ordinal))
                return $"refused naming '{format.FilePath}', not a file of the model: " + Describe(exception);
        }
        summary.Refused[id] = summary.Refused.GetValueOrDefault(id) + 1;
        return null;
    }

    private static string Describe(Exception exception) => $"{exception.GetType().Name}: {exception.Message}\n{exception.StackTrace}";

    /// <summary>Managed bytes allocated by every thread plus native buffers: a load builds layers on worker threads.</summary>
    private static long AllocatedBytes() => GC.GetTotalAllocatedBytes(precise: true) + NativeBuffer.TotalAllocatedBytes;
}
