using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// FP16 weights, row-major, multiplied by FP32 activations. Half the bytes of FP32 for the same results (FP16 values
/// are exact in FP32). On a SIMD path, one token or many: <see cref="Float16Gemm"/>, which widens a block of weights
/// once and multiplies it against the tokens with register-blocked kernels. The scalar path widens each row a slice at
/// a time on the stack with TensorPrimitives and dots it.
/// </summary>
public sealed unsafe class Float16Matrix : WeightMatrix
{
    private const int Slice = 512;
    private readonly NativeBuffer? _owned;
    private readonly Half* _weights;

    /// <summary>
    /// Per row, what a multiplication of few tokens has found of its weights (<see cref="Float16Gemm.RowUnchecked"/>,
    /// <see cref="Float16Gemm.RowFinite"/>, <see cref="Float16Gemm.RowNotFinite"/>): a row checked once to hold no
    /// infinity or NaN is widened from then on without the per-weight fix-up those need. Pinned, as the kernels read it
    /// by pointer.
    /// </summary>
    private readonly byte[] _rowStates;

    public Float16Matrix(int rows, int columns) : base(rows, columns)
    {
        _owned = new NativeBuffer((long)rows * columns * sizeof(ushort));
        _weights = (Half*)_owned.Pointer;
        _rowStates = GC.AllocateArray<byte>(rows, pinned: true);
    }

    private Float16Matrix(int rows, int columns, Half* weights) : base(rows, columns)
    {
        _weights = weights;
        _rowStates = GC.AllocateArray<byte>(rows, pinned: true);
    }

    /// <summary>A matrix over row-major FP16 weights the caller keeps alive (for example, in a mapped file).</summary>
    public static Float16Matrix FromMemory(int rows, int columns, Half* weights) => new(rows, columns, weights);

    /// <summary>Start of the row-major weights, for writing them to a file unchanged.</summary>
    public nint RawWeights => (nint)_weights;

    public override string Format => "F16";

    public override long ByteSize => (long)Rows * Columns * sizeof(ushort);

    public override long OwnedBytes => _owned?.ByteLength ?? 0;

    /// <summary>Row <paramref name="row"/> of the weights, for filling at load time.</summary>
    public Span<Half> RowSpan(int row)
    {
        // The row may be written: what was found of it no longer holds.
        _rowStates[row] = Float16Gemm.RowUnchecked;
        return new(_weights + (long)row * Columns, Columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch)
    {
        var path = KernelDispatch.Best;
        // Every token count goes through the one kernel, whose sums for a token do not depend on how many tokens share
        // the call: a sequence decoded in a batch then gets exactly the logits it gets alone.
        if (path >= KernelPath.Vector128)
        {
            fixed (byte* states = _rowStates)
                Float16Gemm.Multiply(path, _weights, Columns, input, output, outputStride, tokens, rowBegin, rowEnd, states);
            return;
        }
        int k = Columns;
        Span<float> widened = stackalloc float[Slice];
        for (int n = rowBegin; n < rowEnd; n++)
        {
            Half* row = _weights + (long)n * k;
            for (int t = 0; t < tokens; t++) output[(long)t * outputStride + n] = 0;
            for (int start = 0; start < k; start += Slice)
            {
                int length = Math.Min(Slice, k - start);
                var w = widened.Slice(0, length);
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(row + start, length), w);
                for (int t = 0; t < tokens; t++)
                    output[(long)t * outputStride + n] += TensorPrimitives.Dot(w, new ReadOnlySpan<float>(input + (long)t * k + start, length));
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> destination) =>
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(_weights + (long)row * Columns, Columns), destination);

    public override void Dispose()
    {
        _owned?.Dispose();
        base.Dispose();
    }
}
