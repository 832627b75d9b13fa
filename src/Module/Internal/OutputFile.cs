using System.Management.Automation;

namespace LlmCpu.Module.Internal;

/// <summary>The rule every writing cmdlet follows for an existing output file: keep it unless -Force is given.</summary>
internal static class OutputFile
{
    /// <summary>Writes the DestinationExists error and returns false when <paramref name="path"/> exists and <paramref name="force"/> is off.</summary>
    public static bool MayWrite(Cmdlet cmdlet, string path, bool force)
    {
        if (!File.Exists(path) || force) return true;
        cmdlet.WriteError(new ErrorRecord(new IOException($"'{path}' exists; use -Force to overwrite it."), ErrorIds.DestinationExists,
            ErrorCategory.ResourceExists, path));
        return false;
    }
}
