using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// Activations prepared once per multiplication, before the work is split across threads: INT8 values with one
/// scale and one integer sum per block (for INT4 x INT8), or FP32 values padded to the matrix's padded width with
/// one sum per group (for INT4 x FP32). Buffers grow to the largest shape seen and are then reused, so steady-state
/// decoding allocates nothing. One scratch per session.
/// </summary>
public sealed unsafe class ActivationScratch : IDisposable
{
    private NativeBuffer? _buffer;

    /// <summary>(tokens, <see cref="Int8Stride"/>) INT8 activations, <see cref="KPadded"/> of them a token.</summary>
    public sbyte* Int8 { get; private set; }

    /// <summary>
    /// Bytes from one token's INT8 activations to the next's: <see cref="KPadded"/> rounded up to an odd number of
    /// 64-byte lines. A multi-token kernel reads the same offset of up to 16 tokens at once; at a distance of 4096
    /// bytes (a 4096-wide layer, as in every 7B model) all 16 lines fall in one set of a 12-way L1 cache and evict
    /// one another on every chunk. An odd number of lines puts up to 64 tokens in 64 different sets.
    /// </summary>
    public int Int8Stride { get; private set; }

    /// <summary>(tokens, blocks) dequantization scale of each block.</summary>
    public float* BlockScales { get; private set; }

    /// <summary>(tokens, blocks) sum of the INT8 values of each block.</summary>
    public int* BlockSums { get; private set; }

    /// <summary>
    /// (blocks, tokens) the block scales again, by block: consecutive tokens' scales of one block side by side, so a
    /// kernel that combines two tokens at once loads both with one broadcast.
    /// </summary>
    public float* BlockScalesByBlock { get; private set; }

    /// <summary>(blocks, tokens) the block sums again, by block.</summary>
    public int* BlockSumsByBlock { get; private set; }

    /// <summary>Tokens of the INT8 layout: the distance between two blocks in <see cref="BlockScalesByBlock"/>.</summary>
    public int Tokens { get; private set; }

    /// <summary>
    /// (KPadded / 32, tokens) each chunk's first-half and second-half sums (formats whose scales change every 16
    /// weights, ggml's Q5_K and Q6_K, and those whose high bits split a chunk, need the activations' sums per half chunk) as the low and high 16-bit words of one
    /// int (each at most 16 x 127 in magnitude), by chunk: consecutive tokens' side by side, so a kernel that combines
    /// two tokens of a Q6_K chunk at once loads both tokens' pairs with one broadcast. Distance between two chunks:
    /// <see cref="Tokens"/>.
    /// </summary>
    public int* HalfSumPairsByChunk { get; private set; }

    /// <summary>(tokens, KPadded) FP32 activations, zero past the real width.</summary>
    public float* Float32 { get; private set; }

    /// <summary>(tokens, groups) sum of the FP32 activations of each group.</summary>
    public float* GroupSums { get; private set; }

    public int KPadded { get; private set; }

    public int BlockSize { get; private set; }

    /// <summary>Weights per group of the FP32 layout (the sums in <see cref="GroupSums"/> are per group).</summary>
    public int GroupSize { get; private set; }

    private void Ensure(long bytes)
    {
        if (_buffer != null && _buffer.ByteLength >= bytes) return;
        _buffer?.Dispose();
        _buffer = new NativeBuffer(bytes);
    }

    /// <summary>Dynamic symmetric INT8 quantization per block: scale = max|x| / 127, q = round(x / scale).</summary>
    public void QuantizeInt8(float* input, int tokens, int columns, int kPadded, int blockSize)
    {
        LayOutInt8(tokens, kPadded, blockSize);
        QuantizeInt8Tokens(input, 0, tokens, columns);
    }

    /// <summary>
    /// Sizes the buffers for <paramref name="tokens"/> INT8 rows (may allocate: call on one thread), after which
    /// <see cref="QuantizeInt8Tokens"/> can fill disjoint ranges of tokens on several threads at once.
    /// </summary>
    public void LayOutInt8(int tokens, int kPadded, int blockSize)
    {
        int blocks = kPadded / blockSize;
        int stride = (kPadded + 63) / 64 | 1;
        stride *= 64;
        long int8Bytes = Align((long)tokens * stride);
        long scaleBytes = Align((long)tokens * blocks * sizeof(float));
        long halfSumBytes = Align((long)tokens * (kPadded / 32) * sizeof(int));
        Ensure(int8Bytes + 4 * scaleBytes + halfSumBytes);
        byte* p = (byte*)_buffer!.Pointer;
        Int8 = (sbyte*)p;
        BlockScales = (float*)(p + int8Bytes);
        BlockSums = (int*)(p + int8Bytes + scaleBytes);
        BlockScalesByBlock = (float*)(p + int8Bytes + 2 * scaleBytes);
        BlockSumsByBlock = (int*)(p + int8Bytes + 3 * scaleBytes);
        HalfSumPairsByChunk = (int*)(p + int8Bytes + 4 * scaleBytes);
        Tokens = tokens;
        KPadded = kPadded;
        Int8Stride = stride;
        BlockSize = blockSize;
    }

    /// <summary>Quantizes tokens [<paramref name="first"/>, <paramref name="last"/>) into the layout <see cref="LayOutInt8"/> made.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void QuantizeInt8Tokens(float* input, int first, int last, int columns)
    {
        int kPadded = KPadded, blockSize = BlockSize, blocks = kPadded / blockSize;
        for (int t = first; t < last; t++)
        {
            float* x = input + (long)t * columns;
            sbyte* q = Int8 + (long)t * Int8Stride;
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize;
                int length = Math.Clamp(columns - start, 0, blockSize);
                float scale;
                int sum;
                if (length == blockSize && VectorizesBlock) sum = QuantizeVectorBlock(x + start, q + start, blockSize, out scale);
                else sum = QuantizePartialBlock(x + Math.Min(start, columns), q + start, length, blockSize, out scale);
                BlockScales[(long)t * blocks + b] = scale;
                BlockSums[(long)t * blocks + b] = sum;
                BlockScalesByBlock[(long)b * Tokens + t] = scale;
                BlockSumsByBlock[(long)b * Tokens + t] = sum;
            }
            SumHalfChunks(q, HalfSumPairsByChunk + t, Tokens, kPadded / 32);
        }
    }

    /// <summary>
    /// Both halves' sums of each chunk of 32 as one int's two words into <paramref name="pairs"/>,
    /// <paramref name="pairStride"/> ints from one chunk to the next.
    /// </summary>
    private static void SumHalfChunks(sbyte* q, int* pairs, int pairStride, int chunks)
    {
        for (int c = 0; c < chunks; c++)
        {
            var first = Vector128.Load(q + c * 32);
            var second = Vector128.Load(q + c * 32 + 16);
            int low = Vector128.Sum(Vector128.WidenLower(first) + Vector128.WidenUpper(first));
            int high = Vector128.Sum(Vector128.WidenLower(second) + Vector128.WidenUpper(second));
            pairs[(long)c * pairStride] = (low & 0xFFFF) | high << 16;
        }
    }

    /// <summary>Whether whole blocks (multiples of 32 values) are quantized with vectors here: 256-bit ones, or 128-bit ones (ARM64).</summary>
    internal static bool VectorizesBlock => Vector128.IsHardwareAccelerated;

    /// <summary>
    /// A whole block at the widest width this process has: 256 bits, else 128. Written once for both widths with
    /// <c>Vector&lt;T&gt;</c>, the 256-bit loop measured 3-7% slower in the tile kernels' throughput (tile-l2, AMD Zen 5),
    /// so each width keeps its own loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int QuantizeVectorBlock(float* x, sbyte* q, int length, out float scale) =>
        Vector256.IsHardwareAccelerated ? QuantizeWholeBlock(x, q, length, out scale) : QuantizeWholeBlock128(x, q, length, out scale);

    /// <summary>
    /// A whole block (a multiple of 32 values) quantized 32 at a time, with the scalar rule's exact arithmetic: the
    /// same maximum, the same float product, rounded half to even (as MathF.Round), then converted, narrowed and
    /// summed. Decoding quantizes a few thousand values per matrix on one thread, so this is on the critical path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int QuantizeWholeBlock(float* x, sbyte* q, int length, out float scale)
    {
        var max = Vector256<float>.Zero;
        for (int i = 0; i < length; i += 32)
        {
            max = Vector256.MaxNative(max, Vector256.MaxNative(
                Vector256.MaxNative(Vector256.Abs(Vector256.Load(x + i)), Vector256.Abs(Vector256.Load(x + i + 8))),
                Vector256.MaxNative(Vector256.Abs(Vector256.Load(x + i + 16)), Vector256.Abs(Vector256.Load(x + i + 24)))));
        }
        var max4 = Vector128.MaxNative(max.GetLower(), max.GetUpper());
        float absMax = MathF.Max(MathF.Max(max4[0], max4[1]), MathF.Max(max4[2], max4[3]));
        scale = absMax / 127f;
        var inverse = Vector256.Create(scale != 0 ? 1f / scale : 0);
        var sums = Vector256<int>.Zero;
        for (int i = 0; i < length; i += 32)
        {
            var v0 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) * inverse));
            var v1 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 8) * inverse));
            var v2 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 16) * inverse));
            var v3 = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 24) * inverse));
            sums += v0 + v1 + v2 + v3;
            Vector256.Narrow(Vector256.Narrow(v0, v1), Vector256.Narrow(v2, v3)).Store(q + i);
        }
        return Vector256.Sum(sums);
    }

    /// <summary>
    /// <see cref="QuantizeWholeBlock"/> in 128-bit vectors, for processors without 256-bit ones (ARM64): the same
    /// maximum, product, rounding and sum, so the same bytes as the scalar rule.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int QuantizeWholeBlock128(float* x, sbyte* q, int length, out float scale)
    {
        var max = Vector128<float>.Zero;
        for (int i = 0; i < length; i += 16)
        {
            max = Vector128.MaxNative(max, Vector128.MaxNative(
                Vector128.MaxNative(Vector128.Abs(Vector128.Load(x + i)), Vector128.Abs(Vector128.Load(x + i + 4))),
                Vector128.MaxNative(Vector128.Abs(Vector128.Load(x + i + 8)), Vector128.Abs(Vector128.Load(x + i + 12)))));
        }
        float absMax = MathF.Max(MathF.Max(max[0], max[1]), MathF.Max(max[2], max[3]));
        scale = absMax / 127f;
        var inverse = Vector128.Create(scale != 0 ? 1f / scale : 0);
        var sums = Vector128<int>.Zero;
        for (int i = 0; i < length; i += 16)
        {
            var v0 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i) * inverse));
            var v1 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 4) * inverse));
            var v2 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 8) * inverse));
            var v3 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 12) * inverse));
            sums += v0 + v1 + v2 + v3;
            Vector128.Narrow(Vector128.Narrow(v0, v1), Vector128.Narrow(v2, v3)).Store(q + i);
        }
        return Vector128.Sum(sums);
    }

    /// <summary>The scalar rule, for a block cut short by the end of the row (the rest are zeros) or without SIMD.</summary>
    private static int QuantizePartialBlock(float* x, sbyte* q, int length, int blockSize, out float scale)
    {
        var values = new ReadOnlySpan<float>(x, length);
        float absMax = length > 0 ? MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(values)) : 0;
        scale = absMax / 127f;
        float inverse = scale != 0 ? 1f / scale : 0;
        int sum = 0;
        for (int i = 0; i < length; i++)
        {
            int v = (int)MathF.Round(values[i] * inverse);
            q[i] = (sbyte)v;
            sum += v;
        }
        for (int i = length; i < blockSize; i++) q[i] = 0;
        return sum;
    }

    /// <summary>Copies FP32 activations into rows of width <paramref name="kPadded"/> (zero-filled) and sums each group.</summary>
    public void PadFloat32(float* input, int tokens, int columns, int kPadded, int groupSize)
    {
        LayOutFloat32(tokens, kPadded, groupSize);
        PadFloat32Tokens(input, 0, tokens, columns);
    }

    /// <summary>Sizes the buffers for <paramref name="tokens"/> FP32 rows (may allocate: call on one thread).</summary>
    public void LayOutFloat32(int tokens, int kPadded, int groupSize)
    {
        int groups = kPadded / groupSize;
        long floatBytes = Align((long)tokens * kPadded * sizeof(float));
        Ensure(floatBytes + Align((long)tokens * groups * sizeof(float)));
        byte* p = (byte*)_buffer!.Pointer;
        Float32 = (float*)p;
        GroupSums = (float*)(p + floatBytes);
        KPadded = kPadded;
        GroupSize = groupSize;
    }

    /// <summary>Pads and sums tokens [<paramref name="first"/>, <paramref name="last"/>) into the layout <see cref="LayOutFloat32"/> made.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void PadFloat32Tokens(float* input, int first, int last, int columns)
    {
        int kPadded = KPadded, groupSize = GroupSize, groups = kPadded / groupSize;
        for (int t = first; t < last; t++)
        {
            var row = new Span<float>(Float32 + (long)t * kPadded, kPadded);
            new ReadOnlySpan<float>(input + (long)t * columns, columns).CopyTo(row);
            row.Slice(columns).Clear();
            for (int g = 0; g < groups; g++)
            {
                // Summed in order, as the scalar reference does.
                float sum = 0;
                foreach (float v in row.Slice(g * groupSize, groupSize)) sum += v;
                GroupSums[(long)t * groups + g] = sum;
            }
        }
    }

    private static long Align(long bytes) => (bytes + 63) / 64 * 64;

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
