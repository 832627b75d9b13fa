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
/// vector. A group's scales (converted from FP16) and zero points are read when the group starts and kept for its
/// other blocks.
/// </summary>
internal unsafe struct PortableInt4Combine(in Int4View w) : IPortableCombine
{
    private readonly ushort* _scales = w.Scales;
    private readonly byte* _zeros = w.Zeros;
    private readonly int _groups = w.Groups, _blocksPerGroup = w.GroupSize / w.BlockSize;
    private int _tile = -1, _group = -1;
    private Vector128<float> _scaleLow, _scaleHigh;
    private Vector128<int> _zeroLow = Vector128.Create(8), _zeroHigh = Vector128.Create(8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddBlock(int tile, int block, int* dots, in TokenInt8 x, int tokens, float* result)
    {
        int group = block / _blocksPerGroup;
        if (group != _group || tile != _tile) BeginGroup(tile, group);
        for (int t = 0; t < tokens; t++)
        {
            long at = (long)t * x.Blocks + block;
            var xSum = Vector128.Create(x.Sums[at]);
            var xScale = Vector128.Create(x.Scales[at]);
            float* acc = result + t * Int4Matrix.TileRows;
            int* rowDots = dots + t * Int4Matrix.TileRows;
            Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(rowDots) - _zeroLow * xSum), _scaleLow * xScale, Vector128.Load(acc)).Store(acc);
            Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(rowDots + 4) - _zeroHigh * xSum), _scaleHigh * xScale, Vector128.Load(acc + 4)).Store(acc + 4);
        }
    }

    private void BeginGroup(int tile, int group)
    {
        _tile = tile;
        _group = group;
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        ushort* s = _scales + line;
        _scaleLow = HalfConversion.ToSingle4(s);
        _scaleHigh = HalfConversion.ToSingle4(s + 4);
        if (_zeros == null) return;
        byte* z = _zeros + line;
        _zeroLow = Vector128.Create(z[0], z[1], z[2], z[3]);
        _zeroHigh = Vector128.Create(z[4], z[5], z[6], z[7]);
    }
}

/// <summary>
/// The combine of codes with a scale and a minimum per group of 32 (ggml's Q4_K and Q4_1):
/// result += float(dot) * (scale * xScale) - (min * xScale) * float(xSum), one row at a time as the reference does,
/// each row's scale and minimum read once for all the tokens.
/// </summary>
internal unsafe struct PortableScaleMinCombine<S>(S scales) : IPortableCombine where S : struct, IScaleMinGroups
{
    private S _scales = scales;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddBlock(int tile, int block, int* dots, in TokenInt8 x, int tokens, float* result)
    {
        for (int r = 0; r < Int4Matrix.TileRows; r++)
        {
            var (scale, min) = _scales.Row(tile * Int4Matrix.TileRows + r, block);
            for (int t = 0; t < tokens; t++)
            {
                long at = (long)t * x.Blocks + block;
                float xScale = x.Scales[at];
                result[t * Int4Matrix.TileRows + r] += (float)dots[t * Int4Matrix.TileRows + r] * (scale * xScale) - min * xScale * (float)x.Sums[at];
            }
        }
    }
}
