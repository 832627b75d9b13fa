using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How the portable 128-bit kernel (<see cref="Int4MatMul.TileInt8Vector128{T, C}"/>) turns one activation block's
/// exact integer row dots into the block's contribution: the part that differs between the formats of the 4-bit tile
/// layout, in 128-bit operations only (the <see cref="IGroupScales"/> of the wider paths use AVX). A struct per
/// format, so the kernel is compiled with it inlined.
/// </summary>
internal unsafe interface IPortableCombine
{
    /// <summary>
    /// result[t * 8 + r] plus block <paramref name="block"/>'s contribution for token t (of <paramref name="tokens"/>,
    /// from the one <paramref name="x"/> starts at) and row r, from the exact dots at dots[t * 8 + r], in the scalar
    /// reference's operations and order.
    /// </summary>
    void AddBlock(int tile, int block, int* dots, in TokenInt8 x, int tokens, float* result);
}

/// <summary>
/// <see cref="Int4Matrix"/>'s combine: result = fma(float(dot - zero * xSum), scale * xScale, result), four rows a
/// vector, the group's eight scales widened from FP16 four at a time (<see cref="HalfConversion.ToSingle4"/>; one
/// value at a time in software they were a large share of decode on groups of 32) once for all the tokens.
/// </summary>
internal unsafe struct PortableInt4Combine(in Int4View w) : IPortableCombine
{
    private readonly ushort* _scales = w.Scales;
    private readonly byte* _zeros = w.Zeros;
    private readonly int _groups = w.Groups, _blocksPerGroup = w.GroupSize / w.BlockSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void AddBlock(int tile, int block, int* dots, in TokenInt8 x, int tokens, float* result)
    {
        long line = ((long)tile * _groups + block / _blocksPerGroup) * Int4Matrix.TileRows;
        var scaleLow = HalfConversion.ToSingle4(_scales + line);
        var scaleHigh = HalfConversion.ToSingle4(_scales + line + 4);
        var zeroLow = _zeros == null ? Vector128.Create(8) : PortableBytes.ToInt4(_zeros + line);
        var zeroHigh = _zeros == null ? Vector128.Create(8) : PortableBytes.ToInt4(_zeros + line + 4);
        for (int t = 0; t < tokens; t++)
        {
            long at = (long)t * x.Blocks + block;
            var xSum = Vector128.Create(x.Sums[at]);
            var xScale = Vector128.Create(x.Scales[at]);
            float* acc = result + t * Int4Matrix.TileRows;
            int* rowDots = dots + t * Int4Matrix.TileRows;
            Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(rowDots) - zeroLow * xSum), scaleLow * xScale, Vector128.Load(acc)).Store(acc);
            Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(rowDots + 4) - zeroHigh * xSum), scaleHigh * xScale, Vector128.Load(acc + 4)).Store(acc + 4);
        }
    }
}

/// <summary>
/// The combine of codes with a scale and a minimum per group of 32 (ggml's Q4_K and Q4_1):
/// result += float(dot) * (scale * xScale) - (min * xScale) * float(xSum), four rows a vector, the group's scales and
/// minima read once for all the tokens (<see cref="IScaleMinGroups.PortableRows"/>).
/// </summary>
internal unsafe struct PortableScaleMinCombine<S>(S scales) : IPortableCombine where S : struct, IScaleMinGroups
{
    private S _scales = scales;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddBlock(int tile, int block, int* dots, in TokenInt8 x, int tokens, float* result)
    {
        _scales.PortableRows(tile, block, out var scaleLow, out var scaleHigh, out var minLow, out var minHigh);
        for (int t = 0; t < tokens; t++)
        {
            long at = (long)t * x.Blocks + block;
            var xScale = Vector128.Create(x.Scales[at]);
            var xSum = Vector128.Create((float)x.Sums[at]);
            float* acc = result + t * Int4Matrix.TileRows;
            int* rowDots = dots + t * Int4Matrix.TileRows;
            PortableScaleMin.Add(Vector128.Load(rowDots), scaleLow, minLow, xScale, xSum, acc);
            PortableScaleMin.Add(Vector128.Load(rowDots + 4), scaleHigh, minHigh, xScale, xSum, acc + 4);
        }
    }
}

/// <summary>The scale-and-minimum combine of four rows, for the INT4 tile kernel's and the high-bit kernel's formats alike.</summary>
internal static unsafe class PortableScaleMin
{
    /// <summary>acc[0..3] += float(dots) * (scale * xScale) - (min * xScale) * float(xSum), as the scalar reference adds each row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(Vector128<int> dots, Vector128<float> scale, Vector128<float> min, Vector128<float> xScale, Vector128<float> xSum, float* acc) =>
        (Vector128.Load(acc) + (Vector128.ConvertToSingle(dots) * (scale * xScale) - min * xScale * xSum)).Store(acc);
}

/// <summary>Bytes as floats, four at a time, in portable 128-bit operations.</summary>
internal static unsafe class PortableBytes
{
    /// <summary>The four unsigned bytes at <paramref name="bytes"/> as floats (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle4(byte* bytes) => Vector128.ConvertToSingle(ToInt4(bytes));

    /// <summary>The four unsigned bytes at <paramref name="bytes"/> as integers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> ToInt4(byte* bytes) =>
        Vector128.WidenLower(Vector128.WidenLower(Vector128.CreateScalar(*(uint*)bytes).AsByte())).AsInt32();
}
