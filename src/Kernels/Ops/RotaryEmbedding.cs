using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Ops;

/// <summary>
/// Rotary position embedding over the leading <see cref="RotatedDimensions"/> dimensions of each head; the rest pass
/// through. Pair i (of RotatedDimensions / 2) is rotated by position * inverseFrequency[i]. Two pairings: "rotate
/// half" (Hugging Face Llama, GPT-NeoX), dimension i with i + r/2, and interleaved (GPT-J), dimension 2i with 2i + 1.
/// (GGUF Llama files store Q and K permuted for the interleaved pairing; readers undo that permutation.)
/// Cosines and sines are tabulated once per position.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly int _half;
    private readonly bool _interleaved;

    /// <summary>Every dimension rotated, rotate-half, with frequencies theta^(-2i/headDim).</summary>
    public RotaryEmbedding(int headDim, int maxPositions, float theta)
        : this(headDim, maxPositions, DefaultInverseFrequencies(headDim, theta), interleaved: false)
    {
    }

    /// <param name="inverseFrequencies">One per rotated pair: the leading 2 * length dimensions of a head are rotated.</param>
    public RotaryEmbedding(int headDim, int maxPositions, ReadOnlySpan<float> inverseFrequencies, bool interleaved)
    {
        if (headDim % 2 != 0) throw new ArgumentException("Head dimension must be even.", nameof(headDim));
        if (inverseFrequencies.Length == 0 || 2 * inverseFrequencies.Length > headDim)
            throw new ArgumentException($"{inverseFrequencies.Length} rotated pairs do not fit a head of {headDim}.", nameof(inverseFrequencies));
        HeadDim = headDim;
        MaxPositions = maxPositions;
        _half = inverseFrequencies.Length;
        _interleaved = interleaved;
        _cos = new float[(long)maxPositions * _half];
        _sin = new float[(long)maxPositions * _half];
        for (int pos = 0; pos < maxPositions; pos++)
        {
            for (int i = 0; i < _half; i++)
            {
                // The angle in float32, as the reference implementations compute it.
                float angle = pos * inverseFrequencies[i];
                _cos[pos * _half + i] = MathF.Cos(angle);
                _sin[pos * _half + i] = MathF.Sin(angle);
            }
        }
    }

    public int HeadDim { get; }

    public int MaxPositions { get; }

    public int RotatedDimensions => 2 * _half;

    /// <summary>theta^(-2i/dimensions) for each pair, in float32.</summary>
    public static float[] DefaultInverseFrequencies(int dimensions, float theta)
    {
        var result = new float[dimensions / 2];
        for (int i = 0; i < result.Length; i++) result[i] = 1f / MathF.Pow(theta, 2f * i / dimensions);
        return result;
    }

    /// <summary>Rotates every head of <paramref name="heads"/> (heads x HeadDim) in place for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> heads, int position) => Rotate(heads, position, 1f);

    /// <summary>
    /// Rotates every head back by <paramref name="positions"/>: the inverse of <see cref="Apply"/> at that position, so a
    /// head rotated at p becomes the head rotated at p - positions (a KV cache's context shift).
    /// </summary>
    public void ApplyInverse(Span<float> heads, int positions) => Rotate(heads, positions, -1f);

    /// <summary>Rotation by the angles of <paramref name="position"/>, forwards (direction 1) or backwards (-1: sines negated).</summary>
    private void Rotate(Span<float> heads, int position, float direction)
    {
        var cos = new ReadOnlySpan<float>(_cos, position * _half, _half);
        var sin = new ReadOnlySpan<float>(_sin, position * _half, _half);
        for (int h = 0; h < heads.Length; h += HeadDim)
        {
            var head = heads.Slice(h, HeadDim);
            if (_interleaved)
            {
                for (int i = 0; i < _half; i++)
                {
                    float x1 = head[2 * i];
                    float x2 = head[2 * i + 1];
                    float s = direction * sin[i];
                    head[2 * i] = x1 * cos[i] - x2 * s;
                    head[2 * i + 1] = x2 * cos[i] + x1 * s;
                }
                continue;
            }
            for (int j = HalvesVector(head, cos, sin, direction); j < _half; j++)
            {
                float x1 = head[j];
                float x2 = head[j + _half];
                float s = direction * sin[j];
                head[j] = x1 * cos[j] - x2 * s;
                head[j + _half] = x2 * cos[j] + x1 * s;
            }
        }
    }

    /// <summary>
    /// The half-split rotation of a head's pairs a vector at a time (<see cref="Vector{T}"/>: 8 pairs with AVX2, 4 on
    /// ARM64), as the scalar loop computes each (the same operations, unfused, so the same numbers); returns the pairs
    /// done. A batched decode step rotates every sequence's queries and keys in every layer, and one pair at a time
    /// that was a few percent of the step.
    /// </summary>
    private int HalvesVector(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, float direction)
    {
        if (!Vector.IsHardwareAccelerated) return 0;
        ref float x = ref MemoryMarshal.GetReference(head);
        ref float c = ref MemoryMarshal.GetReference(cos);
        ref float sn = ref MemoryMarshal.GetReference(sin);
        var sign = new Vector<float>(direction);
        int i = 0;
        for (; i + Vector<float>.Count <= _half; i += Vector<float>.Count)
        {
            var x1 = Vector.LoadUnsafe(ref x, (nuint)i);
            var x2 = Vector.LoadUnsafe(ref x, (nuint)(i + _half));
            var cv = Vector.LoadUnsafe(ref c, (nuint)i);
            var sv = sign * Vector.LoadUnsafe(ref sn, (nuint)i);
            (x1 * cv - x2 * sv).StoreUnsafe(ref x, (nuint)i);
            (x2 * cv + x1 * sv).StoreUnsafe(ref x, (nuint)(i + _half));
        }
        return i;
    }
}
