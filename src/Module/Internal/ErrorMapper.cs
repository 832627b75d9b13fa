using System.Management.Automation;
using LlmCpu.Engine;

namespace LlmCpu.Module.Internal;

/// <summary>Maps each Engine exception type to one ErrorId and ErrorCategory.</summary>
internal static class ErrorMapper
{
    public static ErrorRecord ForLoad(Exception exception, string path) => exception switch
    {
        ModelNotSupportedException e => new ErrorRecord(e, ErrorIds.ModelNotSupported, ErrorCategory.NotImplemented, e.FilePath),
        ModelFormatException e => new ErrorRecord(e, ErrorIds.ModelFormatInvalid, ErrorCategory.InvalidData, e.FilePath),
        FileNotFoundException or DirectoryNotFoundException => new ErrorRecord(exception, ErrorIds.ModelNotFound, ErrorCategory.ObjectNotFound, path),
        UnauthorizedAccessException => new ErrorRecord(exception, ErrorIds.ModelLoadFailed, ErrorCategory.PermissionDenied, path),
        _ => new ErrorRecord(exception, ErrorIds.ModelLoadFailed, ErrorCategory.ReadError, path),
    };

    public static ErrorRecord ForGeneration(Exception exception, object? target) => exception switch
    {
        GenerationArgumentException or ArgumentException => new ErrorRecord(exception, ErrorIds.GenerationArgumentInvalid, ErrorCategory.InvalidArgument, target),
        _ => new ErrorRecord(exception, ErrorIds.GenerationFailed, ErrorCategory.NotSpecified, target),
    };

    /// <summary>True for exceptions that describe bad input or a bad file, as opposed to bugs, which should surface as they are.</summary>
    public static bool IsExpected(Exception exception) => exception is ModelFormatException or IOException or UnauthorizedAccessException
        or ArgumentException or InvalidOperationException or OverflowException;
}
