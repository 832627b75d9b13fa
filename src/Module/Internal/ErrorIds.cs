namespace LlmCpu.Module.Internal;

/// <summary>Stable ErrorIds: scripts and tests match on these, so they never change once shipped.</summary>
internal static class ErrorIds
{
    public const string ModelNotFound = "ModelNotFound";
    public const string ModelFormatInvalid = "ModelFormatInvalid";
    public const string ModelNotSupported = "ModelNotSupported";
    public const string ModelLoadFailed = "ModelLoadFailed";
    public const string ModelDisposed = "ModelDisposed";
    public const string ModelNumericError = "ModelNumericError";
    public const string InsufficientMemory = "InsufficientMemory";
    public const string BundledModelMissing = "BundledModelMissing";
    public const string GenerationArgumentInvalid = "GenerationArgumentInvalid";
    public const string GenerationFailed = "GenerationFailed";

    /// <summary>The tokenizer's pre-tokenization expression ran past its time limit on the text (catastrophic backtracking).</summary>
    public const string TokenizerTimeout = "TokenizerTimeout";

    /// <summary>A chat turn does not fit in what is left of the session's context.</summary>
    public const string ChatContextFull = "ChatContextFull";

    /// <summary>The model's KV cache pool has too few free blocks for a session's next positions (Import-Model sizes it).</summary>
    public const string KvCacheExhausted = "KvCacheExhausted";

    /// <summary>Import-Model's KV cache settings describe no usable pool (memory smaller than one block).</summary>
    public const string KvCacheArgumentInvalid = "KvCacheArgumentInvalid";

    /// <summary>New-SyntheticModel was asked for a GPT-NeoX, Falcon or GPT-J shape as an .llmc file (those are written as GGUF).</summary>
    public const string SyntheticShapeNeedsGguf = "SyntheticShapeNeedsGguf";

    /// <summary>No -Template was given and the model's own chat template is none LlmCpu recognises.</summary>
    public const string ChatTemplateUnknown = "ChatTemplateUnknown";

    /// <summary>-TemplateName names a chat template the model does not carry.</summary>
    public const string ChatTemplateNotFound = "ChatTemplateNotFound";

    /// <summary>The chat session was removed (Remove-ChatSession, Dispose()).</summary>
    public const string ChatSessionDisposed = "ChatSessionDisposed";

    /// <summary>A model and the reference it is compared with do not share a vocabulary.</summary>
    public const string VocabularyMismatch = "VocabularyMismatch";

    /// <summary>A text file to read (not a model) does not exist.</summary>
    public const string TextNotFound = "TextNotFound";
    public const string DestinationExists = "DestinationExists";
    public const string WriteFailed = "WriteFailed";

    /// <summary>Calibration text gives fewer tokens than a calibrated recipe needs; the message names the minimum.</summary>
    public const string CalibrationTextTooShort = nameof(LlmCpu.Engine.QuantizationProblem.CalibrationTextTooShort);

    /// <summary>-CalibrationTokens is outside the accepted range; the message names the minimum and maximum.</summary>
    public const string CalibrationTokensOutOfRange = nameof(LlmCpu.Engine.QuantizationProblem.CalibrationTokensOutOfRange);

    /// <summary>-MatrixGroupSize names an unknown kind of matrix or a group size the format does not have.</summary>
    public const string InvalidMatrixGroupSize = nameof(LlmCpu.Engine.QuantizationProblem.InvalidMatrixGroupSize);

    /// <summary>The calibration text is the evaluation text.</summary>
    public const string CalibrationIsEvaluationText = nameof(LlmCpu.Engine.QuantizationProblem.CalibrationIsEvaluationText);

    /// <summary>A recipe that needs calibration was asked of a loader; ConvertTo-Int4Model runs it.</summary>
    public const string RecipeNeedsCalibration = nameof(LlmCpu.Engine.QuantizationProblem.RecipeNeedsCalibration);

    /// <summary>A recipe is named but not implemented yet.</summary>
    public const string RecipeNotImplemented = nameof(LlmCpu.Engine.QuantizationProblem.RecipeNotImplemented);

    /// <summary>The Auto recipe was asked for without evaluation text.</summary>
    public const string EvaluationTextRequired = nameof(LlmCpu.Engine.QuantizationProblem.EvaluationTextRequired);

    /// <summary>A defect in LlmCpu itself, not in the input: the message says what went wrong and should be reported.</summary>
    public const string InternalError = "InternalError";
}
