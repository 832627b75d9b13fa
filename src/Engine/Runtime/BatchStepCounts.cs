namespace LlmCpu.Engine.Runtime;

/// <summary>
/// What the forward passes of a <see cref="BatchedGenerator"/> call held: how many passes over the weights, and how
/// many of their token rows were decode tokens and prompt tokens. A prompt that takes a place while others decode rides
/// in their passes (<see cref="MixedSteps"/>) instead of passes of its own.
/// </summary>
public sealed class BatchStepCounts
{
    /// <summary>Forward passes (each reads every weight once).</summary>
    public int Steps { get; private set; }

    /// <summary>Passes that held decode tokens and prompt tokens together.</summary>
    public int MixedSteps { get; private set; }

    /// <summary>Token rows that were one sequence's next token.</summary>
    public long DecodeRows { get; private set; }

    /// <summary>Token rows that were prompt tokens.</summary>
    public long PromptRows { get; private set; }

    internal void Add(int decodeRows, int promptRows)
    {
        Steps++;
        if (decodeRows > 0 && promptRows > 0) MixedSteps++;
        DecodeRows += decodeRows;
        PromptRows += promptRows;
    }

    internal void Reset()
    {
        Steps = MixedSteps = 0;
        DecodeRows = PromptRows = 0;
    }
}
