using System.Numerics.Tensors;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.MatMul;

/// <summary>Unquantized FP32 weights, row-major (Rows, Columns).</summary>
public sealed unsafe class Float32Matrix : WeightMatrix
{
    private readonly NativeBuffer? _owned;
    private readonly float* _weights;

    public Float32Matrix(int rows, int columns) : base(rows, columns)
    {
        _owned = NativeBuffer.ForFloats((long)rows * columns);
        _weights = _owned.Floats;
    }

    private Float32Matrix(int rows, int columns, float* weights) : base(rows, columns) => _weights = weights;

    /// <summary>A matrix over row-major FP32 weights the caller keeps alive (for example, in a mapped file).</summary>
    public static Float32Matrix FromMemory(int rows, int columns, float* weights) => new(rows, columns, weights);

    /// <summary>Start of the row-major weights, for writing them to a file unchanged.</summary>
    public nint RawWeights => (nint)_weights;

    /// <summary>Copies row-major FP32 data of length Rows x Columns.</summary>
    public static Float32Matrix FromRowMajor(ReadOnlySpan<float> data, int rows, int columns)
    {
        var m = new Float32Matrix(rows, columns);
        data.Slice(0, checked(rows * columns)).CopyTo(new Span<float>(m._weights, rows * columns));
        return m;
    }

    public override string Format => "F32";

    public override long ByteSize => (long)Rows * Columns * sizeof(float);

    public override long OwnedBytes => _owned?.ByteLength ?? 0;

    /// <summary>Row <paramref name="row"/> of the weights, for filling at load time.</summary>
    public Span<float> RowSpan(int row) => new(_weights + (long)row * Columns, Columns);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch)
    {
        int k = Columns;
        for (int n = rowBegin; n < rowEnd; n++)
        {
            var row = new ReadOnlySpan<float>(_weights + (long)n * k, k);
            for (int t = 0; t < tokens; t++)
            {
                output[(long)t * outputStride + n] = TensorPrimitives.Dot(row, new ReadOnlySpan<float>(input + (long)t * k, k));
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> destination) =>
        new ReadOnlySpan<float>(_weights + (long)row * Columns, Columns).CopyTo(destination);

    public override void Dispose()
    {
        _owned?.Dispose();
        base.Dispose();
    }
}
