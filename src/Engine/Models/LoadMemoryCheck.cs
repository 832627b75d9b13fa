namespace LlmCpu.Engine.Models;

/// <summary>
/// Refuses, before anything is allocated, a load whose weights cannot fit in the memory available, instead of letting
/// it fail later with an out-of-memory crash or drive the machine into swap. The need is a lower bound from the file
/// sizes (a load holds at least its stored weights, less only when asked to convert them to a smaller type), so a
/// refusal is never wrong; a load that grows its weights (BF16 or Q8_0 converted to F32) can still run short later.
/// A memory-mapped .llmc file needs no memory of its own: its weights stay in the page cache. Read into memory
/// (<see cref="LoadOptions.MemoryMap"/> false), it needs its size.
/// </summary>
public static class LoadMemoryCheck
{
    /// <summary>Memory available as tests see it; null for the machine's real figure. Flows with the calling context only.</summary>
    internal static readonly AsyncLocal<long?> AvailableOverride = new();

    /// <exception cref="ModelTooLargeException">The weights cannot fit.</exception>
    /// <param name="memoryMap">Whether a .llmc file is mapped (it then needs nothing) or read into memory.</param>
    public static void Ensure(string path, ModelPrecision precision, bool memoryMap = true)
    {
        long stored = StoredWeightBytes(path, memoryMap);
        if (stored == 0) return;
        // Bytes per stored byte at least: INT4 is at least an eighth of F32, F16 half of it.
        long needed = precision switch
        {
            ModelPrecision.Int4 => stored / 8,
            ModelPrecision.Float16 => stored / 2,
            _ => stored,
        };
        long available = AvailableBytes();
        if (needed > available) throw new ModelTooLargeException(path, needed, available);
    }

    /// <summary>
    /// Memory the process can still take: Linux's MemAvailable (free memory plus the page cache it can drop), capped by
    /// the runtime's limit (a container's), less what the process already holds.
    /// </summary>
    public static long AvailableBytes()
    {
        if (AvailableOverride.Value is { } forced) return forced;
        var gc = GC.GetGCMemoryInfo();
        long limit = gc.TotalAvailableMemoryBytes - Environment.WorkingSet;
        return ReadMemAvailable() is { } free ? Math.Min(free, limit) : limit;
    }

    private static long StoredWeightBytes(string path, bool memoryMap)
    {
        if (Directory.Exists(path))
            return Directory.EnumerateFiles(path, "*.safetensors").Sum(f => new FileInfo(f).Length);
        if (memoryMap && path.EndsWith(Formats.Llmc.LlmcLayout.Extension, StringComparison.OrdinalIgnoreCase)) return 0;
        return File.Exists(path) ? new FileInfo(path).Length : 0;
    }

    private static long? ReadMemAvailable()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.TryParse(parts[1], out long kib) ? kib * 1024 : null;
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
