namespace LlmCpu.Engine.Runtime;

public enum StopReason
{
    /// <summary>The model produced an end-of-sequence token, or, with a format, the formatted value is complete.</summary>
    EndOfSequence,
    MaxTokens,
    ContextFull,
    Cancelled,
    /// <summary>The text reached one of the stop strings (which is not part of the text).</summary>
    StopSequence,
}
