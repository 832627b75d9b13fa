using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// The scales of ggml's blocks of 32 with an FP16 scale d and either a fixed zero point (Q5_0: value = d * (code - 16))
/// or an FP16 offset m (Q4_1, Q5_1: value = code * d + m), unpacked for the kernels: laid out [tile][group][8 rows], so
/// a kernel loads a tile's eight rows at once.
/// </summary>
internal sealed unsafe class BlockScaleTable : IDisposable
{
    private readonly NativeBuffer _scales;
    private readonly NativeBuffer? _offsets;
    private readonly int _groups;

    /// <param name="tiles">Tiles of eight rows.</param>
    /// <param name="columns">Values a row, a multiple of 32.</param>
    /// <param name="zero">The code that is 0 when the blocks have no offset (16 for Q5_0); 0 when they have one.</param>
    /// <param name="withOffsets">Whether each block has an offset m (Q4_1, Q5_1).</param>
    public BlockScaleTable(int tiles, int columns, int zero, bool withOffsets)
    {
        _groups = columns / Int4Matrix.ChunkSize;
        long lines = (long)tiles * _groups * Int4Matrix.TileRows;
        // Zeroed: padding rows have scale 0 and offset 0, so they compute 0.
        _scales = new NativeBuffer(lines * sizeof(ushort));
        _offsets = withOffsets ? new NativeBuffer(lines * sizeof(ushort)) : null;
        Zero = withOffsets ? 0 : zero;
    }

    public int Zero { get; }

    public long ByteLength => _scales.ByteLength + (_offsets?.ByteLength ?? 0);

    public BlockGroupScales Groups => new((ushort*)_scales.Pointer, _offsets == null ? null : (ushort*)_offsets.Pointer, _groups, Zero);

    /// <summary>Stores row <paramref name="row"/>'s scale bits (and offset bits) of block <paramref name="group"/>.</summary>
    public void Set(int row, int group, ushort scale, ushort offset)
    {
        long line = ((long)(row / Int4Matrix.TileRows) * _groups + group) * Int4Matrix.TileRows + row % Int4Matrix.TileRows;
        ((ushort*)_scales.Pointer)[line] = scale;
        if (_offsets != null) ((ushort*)_offsets.Pointer)[line] = offset;
    }

    public void Dispose()
    {
        _scales.Dispose();
        _offsets?.Dispose();
    }
}

/// <summary>
/// A <see cref="BlockScaleTable"/> for the kernels. Without offsets a block of 32 contributes
/// float(dot - zero * xSum) * (d * xScale); with offsets, written as a minimum -m so that they share the Q4_K form,
/// float(dot) * (d * xScale) - (-m * xScale) * float(xSum). Q4_1's codes go through the INT4 tile kernels
/// (<see cref="IScaleMinGroups"/>), Q5_0's and Q5_1's through the high-bit kernels (<see cref="IChunkScales"/>).
/// </summary>
internal unsafe struct BlockGroupScales : IScaleMinGroups, IChunkScales
{
    private readonly ushort* _scales;
    private readonly ushort* _offsets;
    private readonly int _groups;
    private readonly int _zero;
    private Vector256<float> _scale;
    private Vector256<float> _min;
    private Vector512<float> _scalePair;
    private Vector512<float> _minPair;

    public BlockGroupScales(ushort* scales, ushort* offsets, int groups, int zero)
    {
        _scales = scales;
        _offsets = offsets;
        _groups = groups;
        _zero = zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginGroup(int tile, int group)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        _scale = Ops.HalfConversion.ToSingle8(_scales + line);
        if (_offsets != null) _min = -Ops.HalfConversion.ToSingle8(_offsets + line);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PermuteRows(Vector256<int> order)
    {
        _scale = Avx2.PermuteVar8x32(_scale, order);
        _min = Avx2.PermuteVar8x32(_min, order);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginPairs()
    {
        _scalePair = TokenPair.EachRowTwice(_scale);
        _minPair = TokenPair.EachRowTwice(_min);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc) => Combine(rowSums, xScale, *xSum, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(xScale);
        if (_offsets == null) return acc + Avx.ConvertToVector256Single(rowSums - Vector256.Create(_zero * xSum)) * (_scale * xs);
        return acc + (Avx.ConvertToVector256Single(rowSums) * (_scale * xs) - _min * xs * Vector256.Create((float)xSum));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombinePair(Vector512<int> rowSums, float* xScales, int* xSums, Vector512<float> acc)
    {
        var xs = TokenPair.Of(xScales);
        if (_offsets == null)
            return acc + Avx512F.ConvertToVector512Single(rowSums - TokenPair.Of(xSums) * Vector512.Create(_zero)) * (_scalePair * xs);
        return acc + (Avx512F.ConvertToVector512Single(rowSums) * (_scalePair * xs)
            - _minPair * xs * Avx512F.ConvertToVector512Single(TokenPair.Of(xSums)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> CombineBlockPair(int tile, int group, Vector512<int> rowSums, float* xScales, int* xSums, Vector256<float> acc)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        var scale = Ops.HalfConversion.ToSingle16(_scales + line);
        if (_offsets == null)
            return BlockPair.AddInOrder(Avx512F.ConvertToVector512Single(rowSums - BlockPair.Of(xSums) * Vector512.Create(_zero)) * (scale * BlockPair.Of(xScales)), acc);
        return BlockPair.AddScaleMin(rowSums, scale, -Ops.HalfConversion.ToSingle16(_offsets + line), xScales, xSums, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginChunk(int tile, int chunk) => BeginGroup(tile, chunk);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums512(Vector512<short> sumLow, Vector512<short> sumHigh) => ChunkSums.Plain512(sumLow, sumHigh);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<int> PairRowSums512(Vector512<short> lowA, Vector512<short> highA, Vector512<short> lowB, Vector512<short> highB) =>
        ChunkSums.PlainPair512(lowA, highA, lowB, highB);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombineChunkPair(Vector512<int> rows, float* xScales, int* xSums, int* xHalfSumPairs, Vector512<float> acc) =>
        CombinePair(rows, xScales, xSums, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums256(Vector256<short> low03, Vector256<short> low47, Vector256<short> high03, Vector256<short> high47) =>
        ChunkSums.Plain256(low03, low47, high03, high47);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rows, float xScale, int xLow, int xSum, Vector256<float> acc) =>
        Combine(rows, xScale, xSum, acc);

    public readonly float Accumulate(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum, float acc)
    {
        var (scale, min) = Row(row, chunk);
        if (_offsets == null) return acc + ((float)(dotLow + dotHigh - _zero * xSum) * (scale * xScale));
        return acc + ((float)(dotLow + dotHigh) * (scale * xScale) - min * xScale * (float)xSum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PortableRows(int tile, int group, out Vector128<float> scaleLow, out Vector128<float> scaleHigh, out Vector128<float> minLow, out Vector128<float> minHigh)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        scaleLow = Ops.HalfConversion.ToSingle4(_scales + line);
        scaleHigh = Ops.HalfConversion.ToSingle4(_scales + line + 4);
        minLow = _offsets == null ? default : -Ops.HalfConversion.ToSingle4(_offsets + line);
        minHigh = _offsets == null ? default : -Ops.HalfConversion.ToSingle4(_offsets + line + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PortableAccumulate(int tile, int chunk, int* dotLow, int* dotHigh, float xScale, int xLow, int xSum, float* acc)
    {
        PortableRows(tile, chunk, out var scaleLow, out var scaleHigh, out var minLow, out var minHigh);
        var xs = Vector128.Create(xScale);
        var lowDots = Vector128.Load(dotLow) + Vector128.Load(dotHigh);
        var highDots = Vector128.Load(dotLow + 4) + Vector128.Load(dotHigh + 4);
        if (_offsets != null)
        {
            var sum = Vector128.Create((float)xSum);
            PortableScaleMin.Add(lowDots, scaleLow, minLow, xs, sum, acc);
            PortableScaleMin.Add(highDots, scaleHigh, minHigh, xs, sum, acc + 4);
            return;
        }
        // Without offsets: acc + float(dots - zero * xSum) * (d * xScale), as Accumulate.
        var zeroSum = Vector128.Create(_zero * xSum);
        (Vector128.Load(acc) + Vector128.ConvertToSingle(lowDots - zeroSum) * (scaleLow * xs)).Store(acc);
        (Vector128.Load(acc + 4) + Vector128.ConvertToSingle(highDots - zeroSum) * (scaleHigh * xs)).Store(acc + 4);
    }

    /// <summary>Row <paramref name="row"/>'s (d, -m) of block <paramref name="group"/> (-m is 0 without offsets).</summary>
    public readonly (float Scale, float Min) Row(int row, int group)
    {
        long line = ((long)(row / Int4Matrix.TileRows) * _groups + group) * Int4Matrix.TileRows + row % Int4Matrix.TileRows;
        float d = (float)BitConverter.UInt16BitsToHalf(_scales[line]);
        return (d, _offsets == null ? 0 : -(float)BitConverter.UInt16BitsToHalf(_offsets[line]));
    }

    /// <summary>Row <paramref name="row"/>'s value of code <paramref name="code"/> in block <paramref name="group"/>, as ggml dequantizes it.</summary>
    public readonly float Value(int row, int group, int code)
    {
        var (d, min) = Row(row, group);
        return _offsets == null ? (code - _zero) * d : code * d + -min;
    }
}
