using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How a tile kernel turns one activation block's eight exact integer row sums into its contribution to the outputs:
/// the part of the INT8 arithmetic that differs between formats that share the 4-bit tile layout. The kernels are
/// generic over it (a struct, so the JIT compiles each format's kernel with its combine inlined).
/// </summary>
internal unsafe interface IGroupScales
{
    /// <summary>Loads what group <paramref name="group"/> of tile <paramref name="tile"/> needs (once per group, shared by every token).</summary>
    void BeginGroup(int tile, int group);

    /// <summary>acc + this block's contribution, for activations with scale <paramref name="xScale"/> and integer sum <paramref name="xSum"/>.</summary>
    Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc);
}

/// <summary>
/// <see cref="Int4Matrix"/>: an FP16 scale per group and an integer zero point (8 when symmetric):
/// acc + float(rowSums - zero * xSum) * (scale * xScale), the reference's order.
/// </summary>
internal unsafe struct Int4GroupScales(in Int4View w) : IGroupScales
{
    private readonly ushort* _scales = w.Scales;
    private readonly byte* _zeros = w.Zeros;
    private readonly int _groups = w.Groups;
    private Vector256<float> _scale;
    private byte* _groupZeros;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginGroup(int tile, int group)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        _scale = Ops.HalfConversion.ToSingle8(_scales + line);
        _groupZeros = _zeros == null ? null : _zeros + line;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(*xSum);
        // Symmetric weights have the zero point 8 in every row: the correction is one broadcast and a shift.
        var corrected = _groupZeros == null ? rowSums - (xs << 3) : rowSums - Avx2.ConvertToVector256Int32(_groupZeros) * xs;
        return acc + Avx.ConvertToVector256Single(corrected) * (_scale * Vector256.Create(xScale));
    }
}

/// <summary>
/// Formats whose groups of 32 each have a scale and a minimum per row: value = scale * code - min, and a block
/// contributes float(dot) * (scale * xScale) - (min * xScale) * float(xSum) on every path.
/// </summary>
internal interface IScaleMinGroups : IGroupScales
{
    /// <summary>Row <paramref name="row"/>'s (scale, min) of group <paramref name="group"/>, for the reference and dequantization.</summary>
    (float Scale, float Min) Row(int row, int group);
}
