using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// Q8_0 weights (<see cref="Q8Matrix"/>) times INT8 activations: the dispatcher, the scalar reference, and register-tiled
/// 256-bit and portable 128-bit kernels that load each chunk once for every token of a group. Per row and block
/// of 32: out[r] += float(dot(q[r], xq)) * (d[r] * xscale), the dot exact on every path and the float operations in
/// the same order, so every path gives the reference's bits.
/// </summary>
internal static unsafe partial class Q8MatMul
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(KernelPath path, in Q8View w, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd)
    {
        var kernel = new Kernel(path, w, scratch);
        TileDriver.Multiply(ref kernel, output, outputStride, tokens, tileBegin, tileEnd);
    }

    /// <summary>The path's kernel over a Q8_0 matrix and INT8 activations, for <see cref="TileDriver"/>.</summary>
    private readonly struct Kernel(KernelPath path, Q8View w, ActivationScratch scratch) : ITileKernel
    {
        private readonly Q8View _w = w;

        public int Rows => _w.Rows;

        public int ActivationBytesPerToken => _w.Columns;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Run(int tile, int token, int available, float* result)
        {
            var x = new TokenInt8(scratch, token, _w.Chunks);
            return path switch
            {
                KernelPath.Avx512 when available >= 8 => Tile256<Eight, MaddubsDot>(_w, tile, x, result),
                KernelPath.Avx512 or KernelPath.Avx2 when available >= 4 => Tile256<Four, MaddubsDot>(_w, tile, x, result),
                KernelPath.Avx512 or KernelPath.Avx2 when available >= 2 => Tile256<Two, MaddubsDot>(_w, tile, x, result),
                KernelPath.Avx512 or KernelPath.Avx2 => Tile256<One, MaddubsDot>(_w, tile, x, result),
                KernelPath.Avx2Vnni when available >= 4 => Tile256<Four, VnniDot>(_w, tile, x, result),
                KernelPath.Avx2Vnni when available >= 2 => Tile256<Two, VnniDot>(_w, tile, x, result),
                KernelPath.Avx2Vnni => Tile256<One, VnniDot>(_w, tile, x, result),
                KernelPath.Vector128 when available >= 4 => TileVector128<Four>(_w, tile, x, result),
                KernelPath.Vector128 when available >= 2 => TileVector128<Two>(_w, tile, x, result),
                KernelPath.Vector128 => TileVector128<One>(_w, tile, x, result),
                _ => TileScalar(_w, tile, x, result),
            };
        }
    }

    /// <summary>The reference: code by code, the arithmetic the header describes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileScalar(in Q8View w, int tile, in TokenInt8 x, float* result)
    {
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int c = 0; c < w.Chunks; c++)
        {
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int row = tile * Int4Matrix.TileRows + r, dot = 0;
                for (int j = 0; j < Int4Matrix.ChunkSize; j++) dot += *w.Code(row, c * Int4Matrix.ChunkSize + j) * x.Values[c * Int4Matrix.ChunkSize + j];
                float d = (float)BitConverter.UInt16BitsToHalf(w.TileScales(tile, c)[r]);
                result[r] += (float)dot * (d * x.Scales[c]);
            }
        }
        return 1;
    }

    /*
     * 256-bit register tile: 8 rows x T tokens. A chunk is eight 32-byte loads, each the same four columns of all eight
     * rows; per load and token, the four activations are broadcast to every row's lane, and the dot of signed codes with
     * signed activations is taken as ggml does: |q| (unsigned) times x with q's sign (vpsignb), so that the unsigned x
     * signed multiply-add applies. vpmaddubsw adds two products (at most 2 x 128 x 127 = 32512, no saturation) and
     * vpmaddwd by 1 the next two into the row's 32-bit lane (AVX-VNNI's vpdpbusd does both). Chunks end in one
     * convert and one multiply-add per token with the chunk's eight scales.
     * The AVX-512 path runs this kernel too, with 8 tokens (its 32 registers hold them): 512-bit vpmaddubsw is half as
     * fast per byte as 256-bit on Zen 4 (0.77 against 2 per cycle, measured), and AVX-512 has no vpsignb.
     */
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Tile256<T, D>(in Q8View w, int tile, in TokenInt8 x, float* result) where T : struct, ITokenCount where D : struct, IInt8Dot
    {
        sbyte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        int chunks = w.Chunks, stride = x.Stride, blocks = x.Blocks;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        for (int c = 0; c < chunks; c++, p += Q8Matrix.ChunkBytes, scales += Int4Matrix.TileRows)
        {
            Sse.Prefetch0(p + PrefetchDistance);
            Sse.Prefetch0(p + PrefetchDistance + 64);
            Sse.Prefetch0(p + PrefetchDistance + 128);
            Sse.Prefetch0(p + PrefetchDistance + 192);
            sbyte* xc = x.Values + c * Int4Matrix.ChunkSize;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int j = 0; j < 8; j++)
            {
                var q = Vector256.Load(p + j * 32);
                var magnitude = Avx2.Abs(q);
                int* quad = (int*)(xc + j * 4);
                s0 = D.Add(s0, magnitude, q, quad[0]);
                if (T.Value > 1) s1 = D.Add(s1, magnitude, q, *(int*)((sbyte*)quad + stride));
                if (T.Value > 2) s2 = D.Add(s2, magnitude, q, *(int*)((sbyte*)quad + 2 * stride));
                if (T.Value > 2) s3 = D.Add(s3, magnitude, q, *(int*)((sbyte*)quad + 3 * stride));
                if (T.Value > 4) s4 = D.Add(s4, magnitude, q, *(int*)((sbyte*)quad + 4 * stride));
                if (T.Value > 4) s5 = D.Add(s5, magnitude, q, *(int*)((sbyte*)quad + 5 * stride));
                if (T.Value > 4) s6 = D.Add(s6, magnitude, q, *(int*)((sbyte*)quad + 6 * stride));
                if (T.Value > 4) s7 = D.Add(s7, magnitude, q, *(int*)((sbyte*)quad + 7 * stride));
            }
            var d = Ops.HalfConversion.ToSingle8(scales);
            f0 += Avx.ConvertToVector256Single(s0) * (d * Vector256.Create(x.Scales[c]));
            if (T.Value > 1) f1 += Avx.ConvertToVector256Single(s1) * (d * Vector256.Create(x.Scales[blocks + c]));
            if (T.Value > 2) f2 += Avx.ConvertToVector256Single(s2) * (d * Vector256.Create(x.Scales[2 * blocks + c]));
            if (T.Value > 2) f3 += Avx.ConvertToVector256Single(s3) * (d * Vector256.Create(x.Scales[3 * blocks + c]));
            if (T.Value > 4) f4 += Avx.ConvertToVector256Single(s4) * (d * Vector256.Create(x.Scales[4 * blocks + c]));
            if (T.Value > 4) f5 += Avx.ConvertToVector256Single(s5) * (d * Vector256.Create(x.Scales[5 * blocks + c]));
            if (T.Value > 4) f6 += Avx.ConvertToVector256Single(s6) * (d * Vector256.Create(x.Scales[6 * blocks + c]));
            if (T.Value > 4) f7 += Avx.ConvertToVector256Single(s7) * (d * Vector256.Create(x.Scales[7 * blocks + c]));
        }
        f0.Store(result);
        if (T.Value > 1) f1.Store(result + Int4Matrix.TileRows);
        if (T.Value > 2) f2.Store(result + 2 * Int4Matrix.TileRows);
        if (T.Value > 2) f3.Store(result + 3 * Int4Matrix.TileRows);
        if (T.Value > 4) f4.Store(result + 4 * Int4Matrix.TileRows);
        if (T.Value > 4) f5.Store(result + 5 * Int4Matrix.TileRows);
        if (T.Value > 4) f6.Store(result + 6 * Int4Matrix.TileRows);
        if (T.Value > 4) f7.Store(result + 7 * Int4Matrix.TileRows);
        return T.Value;
    }

    /// <summary>How far ahead the kernel asks for weights: 12 chunks of a tile, as far in bytes as the INT4 kernels look.</summary>
    private const int PrefetchDistance = Int4MatMul.PrefetchDistance;
}

/// <summary>One 32-byte step of a signed INT8 dot: acc + each row lane's four products of codes and broadcast activations.</summary>
internal interface IInt8Dot
{
    static abstract Vector256<int> Add(Vector256<int> acc, Vector256<byte> magnitude, Vector256<sbyte> codes, int activations);
}

/// <summary>vpsignb, vpmaddubsw, vpmaddwd by 1, vpaddd (AVX2).</summary>
internal readonly struct MaddubsDot : IInt8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> magnitude, Vector256<sbyte> codes, int activations)
    {
        var x = Avx2.Sign(Vector256.Create(activations).AsSByte(), codes);
        return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitude, x), Vector256.Create((short)1));
    }
}

/// <summary>vpsignb, vpdpbusd (AVX-VNNI).</summary>
internal readonly struct VnniDot : IInt8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> magnitude, Vector256<sbyte> codes, int activations) =>
        AvxVnni.MultiplyWideningAndAdd(acc, magnitude, Avx2.Sign(Vector256.Create(activations).AsSByte(), codes));
}
