namespace LlmCpu.Kernels.Ops;

/// <summary>
/// Rotary position embedding in the "rotate half" convention of Hugging Face Llama: within each head the
/// first half of the dimensions pairs with the second half, (x[i], x[i + d/2]) rotated by pos * theta^(-2i/d).
/// (GGUF files store Q and K permuted so that the pairs are adjacent instead; readers undo that permutation.)
/// Cosines and sines are tabulated once per position.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly int _half;

    public RotaryEmbedding(int headDim, int maxPositions, float theta)
    {
        if (headDim % 2 != 0) throw new ArgumentException("Head dimension must be even.", nameof(headDim));
        HeadDim = headDim;
        MaxPositions = maxPositions;
        _half = headDim / 2;
        _cos = new float[(long)maxPositions * _half];
        _sin = new float[(long)maxPositions * _half];
        for (int pos = 0; pos < maxPositions; pos++)
        {
            for (int i = 0; i < _half; i++)
            {
                // Computed as the reference does: inverse frequency in float32, then the angle in float32.
                float invFreq = 1f / MathF.Pow(theta, 2f * i / headDim);
                float angle = pos * invFreq;
                _cos[pos * _half + i] = MathF.Cos(angle);
                _sin[pos * _half + i] = MathF.Sin(angle);
            }
        }
    }

    public int HeadDim { get; }

    public int MaxPositions { get; }

    /// <summary>Rotates every head of <paramref name="heads"/> (heads x HeadDim) in place for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> heads, int position)
    {
        var cos = new ReadOnlySpan<float>(_cos, position * _half, _half);
        var sin = new ReadOnlySpan<float>(_sin, position * _half, _half);
        for (int h = 0; h < heads.Length; h += HeadDim)
        {
            var head = heads.Slice(h, HeadDim);
            for (int i = 0; i < _half; i++)
            {
                float x1 = head[i];
                float x2 = head[i + _half];
                head[i] = x1 * cos[i] - x2 * sin[i];
                head[i + _half] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}
