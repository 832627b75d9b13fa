using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// INT8 storage of a KV cache block. Per layer the block holds keys transposed, (kvDim, KeyBlock) bytes, then values,
/// (KeyBlock, kvDim) bytes, as the float types do, then the FP32 scales of the keys, (kvHeads, KeyBlock), then those of
/// the values, (kvHeads, KeyBlock). Element x of head h at position s is stored as round(x / scale) with
/// scale = max |x| over that head's dimensions at s / 127, symmetric, and read back as q * scale.
/// <para>
/// Why one scale per (position, head), for keys as well as values: a position is written once, when its token passes
/// through the layer, and several tokens of a chunk are written at once from different workers; a scale shared across
/// positions (per dimension-row of the block) would have to be known before the block's last position exists, or
/// every earlier position would have to be requantized when it grows. Per position nothing already stored changes, and
/// the key scales of a head form one row of KeyBlock floats beside the transposed keys, so converting a dimension-row
/// of 64 positions is a byte load, a widen and one multiply by the same 64 scales for every row. The head is the unit
/// attention reads, so one scale per head costs 4 bytes per head dimension (64 or 128) rather than per 32 values.
/// </para>
/// <para>
/// Attention converts one block of one key/value head to FP32 into its item's scratch and runs the same FP32 loops as
/// the other types (as FP16 does): the conversion is done once per block for every query row of the item (the query
/// heads of a group and the tokens of a tile), decode attention is bound by the bytes it reads, and those are a
/// quarter of FP32's.
/// </para>
/// </summary>
internal static unsafe class Int8KvBlock
{
    private const int KeyBlock = KvCachePool.BlockPositions;

    /// <summary>
    /// Quantizes one position's keys or values, <paramref name="source"/> (kvDim), head by head: element j to
    /// <paramref name="destination"/>[j * <paramref name="stride"/>], head h's scale to
    /// <paramref name="scales"/>[h * KeyBlock]. A head with a non-finite element gets a non-finite scale, so what
    /// attention reads back is not finite either and the forward pass's numeric check reports it.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> source, int headDim, sbyte* destination, long stride, float* scales)
    {
        for (int h = 0, heads = source.Length / headDim; h < heads; h++)
        {
            var head = source.Slice(h * headDim, headDim);
            float max = MathF.Abs(TensorPrimitives.MaxMagnitude(head));
            // max / 127 is NaN or infinite with the input; the inverse is 0 then, so no garbage reaches the bytes.
            float inverse = max > 0 && float.IsFinite(max) ? 127f / max : 0f;
            scales[(long)h * KeyBlock] = max / 127f;
            sbyte* q = destination + (long)h * headDim * stride;
            for (int j = 0; j < headDim; j++) q[j * stride] = (sbyte)Math.Clamp(MathF.Round(head[j] * inverse), -127f, 127f);
        }
    }

    /// <summary>The inverse of <see cref="Quantize"/>: <paramref name="destination"/> (kvDim) as FP32.</summary>
    public static void Dequantize(sbyte* source, long stride, float* scales, int headDim, Span<float> destination)
    {
        for (int j = 0; j < destination.Length; j++) destination[j] = source[j * stride] * scales[(long)(j / headDim) * KeyBlock];
    }

    /// <summary>
    /// One head's keys of a block, (<paramref name="rows"/>, KeyBlock) bytes transposed, with that head's KeyBlock
    /// scales, to FP32 in the same layout: destination[d * KeyBlock + s] = keys[d * KeyBlock + s] * scales[s].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DequantizeKeys(sbyte* keys, float* scales, int rows, float* destination)
    {
        if (Avx512F.IsSupported) DequantizeKeysAvx512(keys, scales, rows, destination);
        else if (Avx2.IsSupported) DequantizeKeysAvx2(keys, scales, rows, destination);
        else DequantizeKeysScalar(keys, scales, rows, destination);
    }

    /// <summary>
    /// <paramref name="width"/> positions of one head's values, <paramref name="headDim"/> bytes each at
    /// values + s * <paramref name="stride"/>, with that head's scales, to FP32 (width, headDim):
    /// destination[s * headDim + i] = values[s * stride + i] * scales[s].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DequantizeValues(sbyte* values, int stride, float* scales, int width, int headDim, float* destination)
    {
        if (Avx512F.IsSupported) DequantizeValuesAvx512(values, stride, scales, width, headDim, destination);
        else if (Avx2.IsSupported) DequantizeValuesAvx2(values, stride, scales, width, headDim, destination);
        else DequantizeValuesScalar(values, stride, scales, width, headDim, destination);
    }

    /// <summary>The reference the vector paths are tested against.</summary>
    internal static void DequantizeKeysScalar(sbyte* keys, float* scales, int rows, float* destination)
    {
        for (int d = 0; d < rows; d++)
            for (int s = 0; s < KeyBlock; s++) destination[d * KeyBlock + s] = keys[d * KeyBlock + s] * scales[s];
    }

    /// <summary>The reference the vector paths are tested against.</summary>
    internal static void DequantizeValuesScalar(sbyte* values, int stride, float* scales, int width, int headDim, float* destination)
    {
        for (int s = 0; s < width; s++)
            for (int i = 0; i < headDim; i++) destination[s * headDim + i] = values[(long)s * stride + i] * scales[s];
    }

    /// <summary>A row of 64 positions is four 16-lane sign extensions, conversions and multiplies.</summary>
    internal static void DequantizeKeysAvx512(sbyte* keys, float* scales, int rows, float* destination)
    {
        var s0 = Vector512.Load(scales);
        var s1 = Vector512.Load(scales + 16);
        var s2 = Vector512.Load(scales + 32);
        var s3 = Vector512.Load(scales + 48);
        for (int d = 0; d < rows; d++)
        {
            sbyte* k = keys + d * KeyBlock;
            float* o = destination + d * KeyBlock;
            (Widen16(k) * s0).Store(o);
            (Widen16(k + 16) * s1).Store(o + 16);
            (Widen16(k + 32) * s2).Store(o + 32);
            (Widen16(k + 48) * s3).Store(o + 48);
        }
    }

    internal static void DequantizeKeysAvx2(sbyte* keys, float* scales, int rows, float* destination)
    {
        for (int d = 0; d < rows; d++)
        {
            sbyte* k = keys + d * KeyBlock;
            float* o = destination + d * KeyBlock;
            for (int s = 0; s < KeyBlock; s += 8) (Widen8(k + s) * Vector256.Load(scales + s)).Store(o + s);
        }
    }

    internal static void DequantizeValuesAvx512(sbyte* values, int stride, float* scales, int width, int headDim, float* destination)
    {
        for (int s = 0; s < width; s++)
        {
            sbyte* v = values + (long)s * stride;
            float* o = destination + s * headDim;
            var scale = Vector512.Create(scales[s]);
            int i = 0;
            for (; i + 16 <= headDim; i += 16) (Widen16(v + i) * scale).Store(o + i);
            for (; i < headDim; i++) o[i] = v[i] * scales[s];
        }
    }

    internal static void DequantizeValuesAvx2(sbyte* values, int stride, float* scales, int width, int headDim, float* destination)
    {
        for (int s = 0; s < width; s++)
        {
            sbyte* v = values + (long)s * stride;
            float* o = destination + s * headDim;
            var scale = Vector256.Create(scales[s]);
            int i = 0;
            for (; i + 8 <= headDim; i += 8) (Widen8(v + i) * scale).Store(o + i);
            for (; i < headDim; i++) o[i] = v[i] * scales[s];
        }
    }

    /// <summary>16 bytes at <paramref name="p"/> as 16 floats (vpmovsxbd, vcvtdq2ps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen16(sbyte* p) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(p)));

    /// <summary>8 bytes at <paramref name="p"/> as 8 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen8(sbyte* p) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(p));
}
