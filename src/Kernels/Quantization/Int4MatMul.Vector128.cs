using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// Portable 128-bit path (SSE2, ARM64 AdvSimd): nibbles and activations widened to 16 bits, multiplied (the
    /// products fit: 15 x 127), widened to 32 bits and summed; one row at a time, finished as the reference does.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Vector128(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        byte* tq = w.Tile(tile);
        var mask = Vector128.Create((byte)0x0F);
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int b = 0; b < blocks; b++)
        {
            int g = b * w.BlockSize / w.GroupSize;
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                var acc = Vector128<int>.Zero;
                for (int c = b * chunksPerBlock; c < (b + 1) * chunksPerBlock; c++)
                {
                    // The row's two halves of the chunk: low nibbles weights 0..15, high nibbles 16..31.
                    var v = Int4View.RowChunk(tq + (long)c * Int4Matrix.ChunkBytes, r);
                    for (int half = 0; half < 2; half++)
                    {
                        var q = half == 0 ? v & mask : Vector128.ShiftRightLogical(v, 4);
                        var xv = Vector128.Load(x + c * 32 + half * 16);
                        acc += DotWidened(Vector128.WidenLower(q).AsInt16(), Vector128.WidenLower(xv));
                        acc += DotWidened(Vector128.WidenUpper(q).AsInt16(), Vector128.WidenUpper(xv));
                    }
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                float scale = HalfToFloat(scales[r]) * xScales[b];
                result[r] = MathF.FusedMultiplyAdd((float)(Vector128.Sum(acc) - zero * xSums[b]), scale, result[r]);
            }
        }
    }

    private static Vector128<int> DotWidened(Vector128<short> q, Vector128<short> x)
    {
        var product = q * x;
        return Vector128.WidenLower(product) + Vector128.WidenUpper(product);
    }

    /// <summary>FP32 activations, 4 lanes at a time.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Vector128(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        byte* tq = w.Tile(tile);
        int chunksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        var mask = Vector128.Create((byte)0x0F);
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                var sum = Vector128<float>.Zero;
                for (int c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; c++)
                {
                    var v = Int4View.RowChunk(tq + (long)c * Int4Matrix.ChunkBytes, r);
                    for (int half = 0; half < 2; half++)
                    {
                        var q = half == 0 ? v & mask : Vector128.ShiftRightLogical(v, 4);
                        float* xc = x + c * 32 + half * 16;
                        var lo = Vector128.WidenLower(q);
                        var hi = Vector128.WidenUpper(q);
                        sum += Vector128.ConvertToSingle(Vector128.WidenLower(lo).AsInt32()) * Vector128.Load(xc);
                        sum += Vector128.ConvertToSingle(Vector128.WidenUpper(lo).AsInt32()) * Vector128.Load(xc + 4);
                        sum += Vector128.ConvertToSingle(Vector128.WidenLower(hi).AsInt32()) * Vector128.Load(xc + 8);
                        sum += Vector128.ConvertToSingle(Vector128.WidenUpper(hi).AsInt32()) * Vector128.Load(xc + 12);
                    }
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (Vector128.Sum(sum) - zero * groupSums[g]);
            }
        }
    }
}
