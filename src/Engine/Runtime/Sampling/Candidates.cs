namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// The tokens still in the running while the sampler chain narrows them down: ids with their current logits, in an
/// order each stage may change (llama.cpp's <c>llama_token_data_array</c>). All arrays are sized to the vocabulary
/// once, so the stages allocate nothing.
/// </summary>
internal sealed class Candidates
{
    public Candidates(int vocabularySize)
    {
        Ids = new int[vocabularySize];
        Logits = new float[vocabularySize];
        Scratch = new float[vocabularySize];
        ScratchIds = new int[vocabularySize];
        ScratchLogits = new float[vocabularySize];
        Keys = new float[vocabularySize];
        Order = new int[vocabularySize];
    }

    public int[] Ids { get; }

    public float[] Logits { get; }

    public int Count { get; set; }

    /// <summary>Whether the candidates are in descending order of logit.</summary>
    public bool Sorted { get; set; }

    /// <summary>Working space for the stages: probabilities, scores.</summary>
    public float[] Scratch { get; }

    public int[] ScratchIds { get; }

    public float[] ScratchLogits { get; }

    /// <summary>Sort keys and positions for stages that order candidates by something other than the logit.</summary>
    public float[] Keys { get; }

    public int[] Order { get; }

    public Span<int> IdSpan => Ids.AsSpan(0, Count);

    public Span<float> LogitSpan => Logits.AsSpan(0, Count);

    /// <summary>Every token whose logit is above -infinity, in id order (a banned token can never be drawn, so it is left out).</summary>
    public void FillFrom(ReadOnlySpan<float> logits)
    {
        int n = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            if (float.IsNegativeInfinity(logits[id])) continue;
            Ids[n] = id;
            Logits[n++] = logits[id];
        }
        Count = n;
        Sorted = false;
    }

    public void SortDescending()
    {
        if (Sorted) return;
        TopSelection.SortDescending(LogitSpan, IdSpan);
        Sorted = true;
    }

    public float MaxLogit() => Sorted ? Logits[0] : System.Numerics.Tensors.TensorPrimitives.Max(LogitSpan);

    /// <summary>Softmax of the current logits into <see cref="Scratch"/> (same order), shifted by the maximum so that
    /// no exp overflows whatever the logits' size.</summary>
    public Span<float> Softmax()
    {
        var probabilities = Scratch.AsSpan(0, Count);
        System.Numerics.Tensors.TensorPrimitives.Subtract(LogitSpan, MaxLogit(), probabilities);
        System.Numerics.Tensors.TensorPrimitives.Exp(probabilities, probabilities);
        float sum = System.Numerics.Tensors.TensorPrimitives.Sum(probabilities);
        System.Numerics.Tensors.TensorPrimitives.Divide(probabilities, sum, probabilities);
        return probabilities;
    }

    /// <summary>Keeps the candidates at the given positions, in that order.</summary>
    public void KeepInOrder(ReadOnlySpan<int> positions)
    {
        for (int i = 0; i < positions.Length; i++)
        {
            ScratchIds[i] = Ids[positions[i]];
            ScratchLogits[i] = Logits[positions[i]];
        }
        ScratchIds.AsSpan(0, positions.Length).CopyTo(Ids);
        ScratchLogits.AsSpan(0, positions.Length).CopyTo(Logits);
        Count = positions.Length;
    }
}
