using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class HighBitsMatMul
{
    /// <summary>
    /// The portable 128-bit kernel (SSE on x86, AdvSimd on ARM64): 8 rows x T tokens (4, 2, 1) a pass, a row pair at a
    /// time as <see cref="Int4MatMul.TileInt8Vector128{T, C}"/> walks the INT4 tile, each pair's codes rebuilt once
    /// for all T tokens (<see cref="PairCodes"/>). Codes are at most 63 and activations at most 127 in magnitude, so a
    /// 16-bit lane holds two products (16002): each row's dot with the chunk's first 16 activations and with its last
    /// 16 are kept apart, reduced four rows at a time (<see cref="PortableLanes"/>), and handed to the format's
    /// combine (<see cref="IChunkScales.PortableAccumulate"/>: the reference's operations on four rows a vector), so the
    /// result is the reference's bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileVector128<T, S>(in Int4View lows, in HighBitsPlane plane, ref S scales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IChunkScales
    {
        byte* tileBase = lows.Tile(tile);
        int chunks = lows.Chunks, stride = x.Stride, blocks = x.Blocks;
        int* dotLow = stackalloc int[Int4Matrix.TileRows * T.Value]; // [token][row]
        int* dotHigh = stackalloc int[Int4Matrix.TileRows * T.Value];
        new Span<float>(result, Int4Matrix.TileRows * T.Value).Clear();
        for (int c = 0; c < chunks; c++)
        {
            byte* chunk = tileBase + (long)c * Int4Matrix.ChunkBytes;
            byte* firstPlane = plane.Highs(tile, c, 0), secondPlane = plane.Highs(tile, c, 1);
            sbyte* xc = x.Values + c * Int4Matrix.ChunkSize;
            for (int quad = 0; quad < 2; quad++)
            {
                Vector128<int> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
                for (int pair = 2 * quad; pair < 2 * quad + 2; pair++)
                {
                    int rowBytes = pair * 2 * Int4Matrix.RowHalfBytes;
                    // Both rows' codes of values 0-7 (q0), 8-15 (q1), 16-23 (q2) and 24-31 (q3).
                    PairCodes(Vector128.Load(chunk + rowBytes), firstPlane + rowBytes / 2, out var q0, out var q2);
                    PairCodes(Vector128.Load(chunk + Int4Matrix.HalfChunkBytes + rowBytes), secondPlane + rowBytes / 2, out var q1, out var q3);
                    var w0e = Vector128.WidenLower(q0).AsInt16(); var w0o = Vector128.WidenUpper(q0).AsInt16();
                    var w1e = Vector128.WidenLower(q1).AsInt16(); var w1o = Vector128.WidenUpper(q1).AsInt16();
                    var w2e = Vector128.WidenLower(q2).AsInt16(); var w2o = Vector128.WidenUpper(q2).AsInt16();
                    var w3e = Vector128.WidenLower(q3).AsInt16(); var w3o = Vector128.WidenUpper(q3).AsInt16();
                    bool complete = pair == 2 * quad + 1;
                    PairHalfDots(xc, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, complete, ref l0, ref h0);
                    if (T.Value > 1) PairHalfDots(xc + stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, complete, ref l1, ref h1);
                    if (T.Value > 2) PairHalfDots(xc + 2 * stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, complete, ref l2, ref h2);
                    if (T.Value > 2) PairHalfDots(xc + 3 * stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, complete, ref l3, ref h3);
                }
                int at = 4 * quad;
                l0.Store(dotLow + at); h0.Store(dotHigh + at);
                if (T.Value > 1) { l1.Store(dotLow + Int4Matrix.TileRows + at); h1.Store(dotHigh + Int4Matrix.TileRows + at); }
                if (T.Value > 2) { l2.Store(dotLow + 2 * Int4Matrix.TileRows + at); h2.Store(dotHigh + 2 * Int4Matrix.TileRows + at); }
                if (T.Value > 2) { l3.Store(dotLow + 3 * Int4Matrix.TileRows + at); h3.Store(dotHigh + 3 * Int4Matrix.TileRows + at); }
            }
            for (int t = 0; t < T.Value; t++)
            {
                long offset = (long)t * blocks + c;
                int xLow = x.FirstHalfSum(t, c), xSum = x.Sums[offset];
                float xScale = x.Scales[offset];
                scales.PortableAccumulate(tile, c, dotLow + t * Int4Matrix.TileRows, dotHigh + t * Int4Matrix.TileRows, xScale, xLow, xSum, result + t * Int4Matrix.TileRows);
            }
        }
        return T.Value;
    }

    /// <summary>
    /// A row pair's 16 nibble bytes of one half (row 2p's 8, then 2p + 1's) with their fields from the plane's 8 bytes
    /// at <paramref name="plane"/> (nibble byte 2k's field in the low nibble of plane byte k, 2k + 1's in the high one)
    /// as codes: the low nibbles' (values 0-7, or 8-15) and the high nibbles' (16-23, or 24-31).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairCodes(Vector128<byte> nibbles, byte* plane, out Vector128<byte> low, out Vector128<byte> high)
    {
        // Plane byte k widened to 16 bits, its high nibble moved to bits 8-11: byte i now holds nibble byte i's field.
        var words = Vector128.WidenLower(Vector128.CreateScalar(*(ulong*)plane).AsByte());
        var fields = ((words & Vector128.Create((ushort)0x000F)) | Vector128.ShiftLeft(words & Vector128.Create((ushort)0x00F0), 4)).AsByte();
        var mask = Vector128.Create((byte)0x0F);
        low = (nibbles & mask) | Vector128.ShiftLeft(fields & Vector128.Create((byte)0x03), 4);
        high = Vector128.ShiftRightLogical(nibbles, 4) | Vector128.ShiftLeft(fields & Vector128.Create((byte)0x0C), 2);
    }

    /// <summary>
    /// One token's dots with a row pair's chunk, the first 16 values' and the last 16's apart, added into
    /// <paramref name="low"/> and <paramref name="high"/> as <see cref="PortableLanes.PairDots"/> gathers four rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairHalfDots(sbyte* x, Vector128<short> w0e, Vector128<short> w0o, Vector128<short> w1e, Vector128<short> w1o,
        Vector128<short> w2e, Vector128<short> w2o, Vector128<short> w3e, Vector128<short> w3o, bool complete, ref Vector128<int> low, ref Vector128<int> high)
    {
        PortableLanes.WidenOctets(x, out var x0, out var x1, out var x2, out var x3);
        low = PortableLanes.PairDots(low, w0e * x0 + w1e * x1, w0o * x0 + w1o * x1, complete);
        high = PortableLanes.PairDots(high, w2e * x2 + w3e * x3, w2o * x2 + w3o * x3, complete);
    }
}
