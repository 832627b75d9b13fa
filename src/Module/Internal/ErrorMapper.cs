using System.Management.Automation;
using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;

namespace LlmCpu.Module.Internal;

/// <summary>
/// Maps each Engine exception type to one ErrorId and ErrorCategory. Only exceptions that describe bad input, a bad
/// file, the file system or the model's state are "expected"; anything else is a defect of LlmCpu and is reported as
/// <see cref="ErrorIds.InternalError"/> with its own message, never disguised as the user's mistake.
/// </summary>
internal static class ErrorMapper
{
    /// <summary>Longest prompt shown as an error's target: enough to recognise it, never a whole document.</summary>
    private const int PromptPreviewLength = 60;

    public static ErrorRecord ForLoad(Exception exception, string path) => exception switch
    {
        ModelNotSupportedException e => new ErrorRecord(e, ErrorIds.ModelNotSupported, ErrorCategory.NotImplemented, e.FilePath),
        ModelTooLargeException e => new ErrorRecord(e, ErrorIds.InsufficientMemory, ErrorCategory.ResourceUnavailable, e.FilePath),
        KvCacheArgumentException => new ErrorRecord(exception, ErrorIds.KvCacheArgumentInvalid, ErrorCategory.InvalidArgument, path),
        ModelFormatException e => new ErrorRecord(e, ErrorIds.ModelFormatInvalid, ErrorCategory.InvalidData, e.FilePath),
        FileNotFoundException or DirectoryNotFoundException => new ErrorRecord(exception, ErrorIds.ModelNotFound, ErrorCategory.ObjectNotFound, path),
        UnauthorizedAccessException => new ErrorRecord(exception, ErrorIds.ModelLoadFailed, ErrorCategory.PermissionDenied, path),
        _ => Common(exception, path) ?? new ErrorRecord(exception, ErrorIds.ModelLoadFailed, ErrorCategory.ReadError, path),
    };

    /// <param name="prompt">The prompt; the error's target is a short preview of it.</param>
    public static ErrorRecord ForGeneration(Exception exception, string? prompt, object? model)
    {
        string? preview = prompt is { Length: > PromptPreviewLength } ? prompt[..PromptPreviewLength] + "…" : prompt;
        return exception switch
        {
            ChatContextFullException or ChatSessionDisposedException => ForChat(exception, model),
            VocabularyMismatchException => new ErrorRecord(exception, ErrorIds.VocabularyMismatch, ErrorCategory.InvalidArgument, model),
            GenerationArgumentException => new ErrorRecord(exception, ErrorIds.GenerationArgumentInvalid, ErrorCategory.InvalidArgument, preview ?? model),
            _ => Common(exception, model) ?? new ErrorRecord(exception, ErrorIds.GenerationFailed, ErrorCategory.NotSpecified, preview),
        };
    }

    /// <summary>For a chat session's creation or turn; <paramref name="target"/> is the model or the session.</summary>
    public static ErrorRecord ForChat(Exception exception, object? target) => exception switch
    {
        ChatContextFullException => new ErrorRecord(exception, ErrorIds.ChatContextFull, ErrorCategory.LimitsExceeded, target),
        ChatSessionDisposedException => new ErrorRecord(exception, ErrorIds.ChatSessionDisposed, ErrorCategory.InvalidOperation, target),
        ChatTemplateUnknownException => new ErrorRecord(exception, ErrorIds.ChatTemplateUnknown, ErrorCategory.ObjectNotFound, target),
        ChatTemplateNotFoundException => new ErrorRecord(exception, ErrorIds.ChatTemplateNotFound, ErrorCategory.ObjectNotFound, target),
        ArgumentOutOfRangeException => new ErrorRecord(exception, ErrorIds.GenerationArgumentInvalid, ErrorCategory.InvalidArgument, target),
        _ => ForGeneration(exception, null, target),
    };

    /// <summary>For a cmdlet that writes <paramref name="destination"/> from <paramref name="source"/> (a path or a model).</summary>
    public static ErrorRecord ForWrite(Exception exception, string destination, object? source) => exception switch
    {
        OutputFileExistsException e => new ErrorRecord(e, ErrorIds.DestinationExists, ErrorCategory.ResourceExists, e.FilePath),
        OutputWriteException e => new ErrorRecord(e, ErrorIds.WriteFailed, ErrorCategory.WriteError, e.FilePath),
        ModelFormatException or ModelTooLargeException or FileNotFoundException or DirectoryNotFoundException => ForLoad(exception, source as string ?? destination),
        _ => Common(exception, source) ?? new ErrorRecord(exception, ErrorIds.WriteFailed, ErrorCategory.WriteError, destination),
    };

    /// <summary>Errors that mean the same whatever the cmdlet was doing.</summary>
    private static ErrorRecord? Common(Exception exception, object? target) => exception switch
    {
        ObjectDisposedException => new ErrorRecord(exception, ErrorIds.ModelDisposed, ErrorCategory.InvalidOperation, target),
        ModelNumericException => new ErrorRecord(exception, ErrorIds.ModelNumericError, ErrorCategory.InvalidResult, target),
        TokenizerTimeoutException => new ErrorRecord(exception, ErrorIds.TokenizerTimeout, ErrorCategory.LimitsExceeded, target),
        KvCacheExhaustedException => new ErrorRecord(exception, ErrorIds.KvCacheExhausted, ErrorCategory.LimitsExceeded, target),
        QuantizationArgumentException e => new ErrorRecord(e, e.Problem.ToString(),
            e.Problem == QuantizationProblem.RecipeNotImplemented ? ErrorCategory.NotImplemented : ErrorCategory.InvalidArgument, target),
        _ => null,
    };

    /// <summary>True for exceptions that describe bad input, a bad file, the file system or a disposed model.</summary>
    public static bool IsExpected(Exception exception) => exception is ModelFormatException or GenerationArgumentException or QuantizationArgumentException
        or ModelTooLargeException or ChatContextFullException or ChatTemplateUnknownException or ChatTemplateNotFoundException or ModelNumericException or TokenizerTimeoutException
        or KvCacheExhaustedException or KvCacheArgumentException or ObjectDisposedException or IOException or UnauthorizedAccessException;

    /// <summary>
    /// True for an exception that is neither expected nor PowerShell's own (pipeline stops, binding errors), nor a
    /// cancellation: a defect to report as <see cref="ErrorIds.InternalError"/>.
    /// </summary>
    public static bool IsDefect(Exception exception) =>
        !IsExpected(exception) && exception is not (RuntimeException or OperationCanceledException);

    public static ErrorRecord Defect(Exception exception, object? target) =>
        new(exception, ErrorIds.InternalError, ErrorCategory.NotSpecified, target)
        {
            ErrorDetails = new ErrorDetails($"Internal error in LlmCpu ({exception.GetType().Name}): {exception.Message}")
            {
                RecommendedAction = "This is a defect in LlmCpu, not a problem with the input; please report it with the command that caused it.",
            },
        };
}
