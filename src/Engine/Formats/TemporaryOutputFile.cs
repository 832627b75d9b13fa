namespace LlmCpu.Engine.Formats;

/// <summary>
/// How every writer of model files puts its output in place: the data goes to a temporary file beside the destination
/// (a dot-file with a unique suffix, never mistaken for the output, never shared by two writers), flushed to disk and
/// renamed over the destination only when complete; on any failure or cancellation the temporary file is deleted.
/// So a destination is either the old file or the whole new one. Failures are reported against the destination:
/// the temporary name is an implementation detail users should never see.
/// A writer killed outright (no finally block runs) leaves its temporary file behind. The name carries the writing
/// process's id, so the next write to the same destination deletes the leftovers of processes that no longer run,
/// and never a file another live writer is filling.
/// </summary>
internal sealed class TemporaryOutputFile : IDisposable
{
    private readonly bool _overwrite;
    private bool _committed;

    /// <exception cref="OutputFileExistsException">The destination exists and <paramref name="overwrite"/> is off.</exception>
    /// <exception cref="OutputWriteException">The folder is missing, the destination is a folder, or the file cannot be created.</exception>
    public TemporaryOutputFile(string destination, bool overwrite, FileAccess access = FileAccess.Write, FileOptions options = FileOptions.None)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        Destination = System.IO.Path.GetFullPath(destination);
        _overwrite = overwrite;
        string folder = System.IO.Path.GetDirectoryName(Destination) ?? throw new OutputWriteException(Destination, $"'{Destination}' names no file.");
        if (Directory.Exists(Destination)) throw new OutputWriteException(Destination, $"'{Destination}' is a folder; name a file to write.");
        if (!Directory.Exists(folder)) throw new OutputWriteException(Destination, $"Cannot write '{Destination}': the folder '{folder}' does not exist.");
        // Checked before any data is written, so a refusal costs nothing; checked again by the final rename.
        if (!overwrite && File.Exists(Destination)) throw new OutputFileExistsException(Destination);
        DeleteLeftoversOfDeadWriters(folder, System.IO.Path.GetFileName(Destination));
        TemporaryPath = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(Destination)}.{Environment.ProcessId}-{Guid.NewGuid():N}.partial");
        try
        {
            Stream = new FileStream(TemporaryPath, FileMode.CreateNew, access, FileShare.None, 1 << 20, options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Describe(ex);
        }
    }

    public string Destination { get; }

    /// <summary>
    /// Deletes ".name.pid-guid.partial" files whose process no longer runs (best effort: a file that cannot be deleted
    /// is left, as are names without a process id, from older versions, and the files of live processes). A process id
    /// reused by an unrelated process keeps its leftover until that process ends too.
    /// </summary>
    private static void DeleteLeftoversOfDeadWriters(string folder, string fileName)
    {
        string prefix = "." + fileName + ".";
        try
        {
            foreach (string path in Directory.EnumerateFiles(folder, prefix + "*.partial"))
            {
                string tag = System.IO.Path.GetFileName(path)[prefix.Length..^".partial".Length];
                int dash = tag.IndexOf('-');
                if (dash <= 0 || !int.TryParse(tag.AsSpan(0, dash), out int processId) || IsRunning(processId)) continue;
                try { File.Delete(path); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A folder that cannot be listed fails the write itself a moment later, with the reason.
        }
    }

    private static bool IsRunning(int processId)
    {
        if (processId == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    internal string TemporaryPath { get; }

    public FileStream Stream { get; }

    /// <summary>Flushes the data to disk and renames the temporary file over the destination.</summary>
    public void Commit()
    {
        try
        {
            // On disk before the rename, so that the name never points at data still in the page cache only.
            Stream.Flush(flushToDisk: true);
            Stream.Dispose();
            File.Move(TemporaryPath, Destination, _overwrite);
            _committed = true;
        }
        catch (IOException) when (!_overwrite && File.Exists(Destination))
        {
            throw new OutputFileExistsException(Destination);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Describe(ex);
        }
    }

    /// <summary>
    /// The exception to report for a failure while writing: file-system errors become an <see cref="OutputWriteException"/>
    /// naming the destination; anything else is returned as it is.
    /// </summary>
    public Exception Describe(Exception exception) => exception switch
    {
        OutputWriteException or OutputFileExistsException => exception,
        IOException or UnauthorizedAccessException =>
            new OutputWriteException(Destination, $"Cannot write '{Destination}': {exception.Message.Replace(TemporaryPath, Destination, StringComparison.Ordinal)}", exception),
        _ => exception,
    };

    /// <summary>Deletes the temporary file unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_committed) return;
        Stream.Dispose();
        try
        {
            File.Delete(TemporaryPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The original failure matters more than a leftover temporary file, whose name says what it is.
        }
    }
}
