using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Q8MatMul
{
    /// <summary>
    /// The portable 128-bit kernel (SSE on x86, AdvSimd on ARM64): 8 rows x T tokens (4, 2, 1). Each 32-byte step of a
    /// chunk holds four columns of the eight rows; its two 16-byte halves (rows 0-3, rows 4-7) widened to 16 bits are
    /// two rows a vector, multiplied with the step's four activations (repeated) and added in pairs into 32-bit lanes,
    /// two lanes a row (a product is at most 128 x 127 in magnitude, so the 16-bit multiply is exact). At the end of a
    /// chunk one pairwise add turns each half's two vectors into its four rows' dots, combined with the scales as the
    /// reference does. The codes are loaded and widened once for all T tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileVector128<T>(in Q8View w, int tile, in TokenInt8 x, float* result) where T : struct, ITokenCount
    {
        sbyte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        int chunks = w.Chunks, stride = x.Stride, blocks = x.Blocks;
        new Span<float>(result, Int4Matrix.TileRows * T.Value).Clear();
        for (int c = 0; c < chunks; c++, p += Q8Matrix.ChunkBytes, scales += Int4Matrix.TileRows)
        {
            sbyte* xc = x.Values + c * Int4Matrix.ChunkSize;
            // Per token: rows 0-1, 2-3, 4-5 and 6-7, two lanes a row.
            Vector128<int> a0 = default, b0 = default, c0 = default, d0 = default, a1 = default, b1 = default, c1 = default, d1 = default;
            Vector128<int> a2 = default, b2 = default, c2 = default, d2 = default, a3 = default, b3 = default, c3 = default, d3 = default;
            for (int j = 0; j < 8; j++)
            {
                var first = Vector128.Load(p + j * 32);
                var second = Vector128.Load(p + j * 32 + 16);
                var r01 = Vector128.WidenLower(first);
                var r23 = Vector128.WidenUpper(first);
                var r45 = Vector128.WidenLower(second);
                var r67 = Vector128.WidenUpper(second);
                sbyte* quad = xc + j * 4;
                StepDots(quad, r01, r23, r45, r67, ref a0, ref b0, ref c0, ref d0);
                if (T.Value > 1) StepDots(quad + stride, r01, r23, r45, r67, ref a1, ref b1, ref c1, ref d1);
                if (T.Value > 2) StepDots(quad + 2 * stride, r01, r23, r45, r67, ref a2, ref b2, ref c2, ref d2);
                if (T.Value > 2) StepDots(quad + 3 * stride, r01, r23, r45, r67, ref a3, ref b3, ref c3, ref d3);
            }
            var dLow = Ops.HalfConversion.ToSingle4(scales);
            var dHigh = Ops.HalfConversion.ToSingle4(scales + 4);
            Combine(a0, b0, c0, d0, dLow, dHigh, x.Scales[c], result);
            if (T.Value > 1) Combine(a1, b1, c1, d1, dLow, dHigh, x.Scales[blocks + c], result + Int4Matrix.TileRows);
            if (T.Value > 2) Combine(a2, b2, c2, d2, dLow, dHigh, x.Scales[2 * blocks + c], result + 2 * Int4Matrix.TileRows);
            if (T.Value > 2) Combine(a3, b3, c3, d3, dLow, dHigh, x.Scales[3 * blocks + c], result + 3 * Int4Matrix.TileRows);
        }
        return T.Value;
    }

    /// <summary>One token's products with a step's four columns of the eight rows, added in pairs into each row pair's lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StepDots(sbyte* quad, Vector128<short> r01, Vector128<short> r23, Vector128<short> r45, Vector128<short> r67,
        ref Vector128<int> a, ref Vector128<int> b, ref Vector128<int> c, ref Vector128<int> d)
    {
        var x = Vector128.WidenLower(Vector128.Create(*(int*)quad).AsSByte());
        a += PortableLanes.WidenPairs(r01 * x);
        b += PortableLanes.WidenPairs(r23 * x);
        c += PortableLanes.WidenPairs(r45 * x);
        d += PortableLanes.WidenPairs(r67 * x);
    }

    /// <summary>acc[r] += float(dot[r]) * (d[r] * xScale), the rows' dots gathered from their pairs of lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine(Vector128<int> rows01, Vector128<int> rows23, Vector128<int> rows45, Vector128<int> rows67,
        Vector128<float> dLow, Vector128<float> dHigh, float xScale, float* acc)
    {
        var xs = Vector128.Create(xScale);
        (Vector128.Load(acc) + Vector128.ConvertToSingle(PortableLanes.AddPairs(rows01, rows23)) * (dLow * xs)).Store(acc);
        (Vector128.Load(acc + 4) + Vector128.ConvertToSingle(PortableLanes.AddPairs(rows45, rows67)) * (dHigh * xs)).Store(acc + 4);
    }
}
