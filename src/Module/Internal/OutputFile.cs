using System.Management.Automation;

namespace LlmCpu.Module.Internal;

/// <summary>What every writing cmdlet does with its output file: keep an existing one unless -Force is given, and
/// return the written file as the file system provider returns it.</summary>
internal static class OutputFile
{
    /// <summary>
    /// Writes the file at <paramref name="path"/> to the pipeline as Get-Item would: a FileInfo with the provider's
    /// properties (PSPath, PSParentPath, the Unix mode and owner), so pwsh shows it in its file-system view and it
    /// binds to -LiteralPath by PSPath. A bare <c>new FileInfo(path)</c> shows blank Mode, User, Group and Size columns.
    /// </summary>
    public static void WriteItem(PSCmdlet cmdlet, string path)
    {
        var items = cmdlet.InvokeProvider.Item.Get(new[] { path }, force: true, literalPath: true);
        cmdlet.WriteObject(items, enumerateCollection: true);
    }

    /// <summary>Writes the DestinationExists error and returns false when <paramref name="path"/> exists and <paramref name="force"/> is off.</summary>
    public static bool MayWrite(Cmdlet cmdlet, string path, bool force)
    {
        if (!File.Exists(path) || force) return true;
        cmdlet.WriteError(new ErrorRecord(new IOException($"'{path}' exists; use -Force to overwrite it."), ErrorIds.DestinationExists,
            ErrorCategory.ResourceExists, path));
        return false;
    }
}
