using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// One token times Q4_K codes (decode's kernel for Q4_K), a super-block of eight groups at a time: the arithmetic of
    /// <see cref="TileInt8Avx512BlockPairs{S}"/> with <see cref="KQuantGroupScales.CombineBlockPair"/>, bit for bit, with
    /// the scales walked by pointers. The general kernel finds each group pair's scales from the tile and group numbers
    /// (multiplications, and fields of the scales struct read again through its reference every pair) and keeps the
    /// super-block's converted d and dmin in that struct (a store and a load back each pair); here the super-block's d
    /// and dmin are converted once into registers, and the next pair's scales are 16 bytes on.
    /// Measured one thread, L2-resident (bench `ggml-l2 200`, Q4_K, one token, AMD Zen 5 guest, three alternated runs):
    /// 38.4-38.9 -> 43.3-43.9 GB/s. In a Llama-2-7B-shaped Q4_K_M decode at two threads the gate/up GEMV read
    /// 34.6-35.8 GB/s before and 34.7-35.2 after (`profile`, two alternated runs, the host slow at the time): from memory
    /// the kernel waits on the weights more than on its arithmetic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512SuperBlocks(in Int4View w, in KQuantGroupScales scales, int tile, in TokenInt8 x, float* result)
    {
        const int GroupsPerSuperBlock = KQuantScaleTable.SuperBlock / Int4Matrix.ChunkSize;
        byte* p = w.Tile(tile);
        int superBlocks = w.Groups / GroupsPerSuperBlock;
        scales.Tile(tile, out ushort* d, out ushort* dmin, out byte* sc, out byte* m);
        sbyte* xp = x.Values;
        float* xScales = x.Scales;
        int* xSums = x.Sums;
        var mask = Vector512.Create((byte)0x0F);
        Vector256<float> acc = default;
        for (int s = 0; s < superBlocks; s++, d += Int4Matrix.TileRows, dmin += Int4Matrix.TileRows)
        {
            var superScale = BlockPair.Twice(HalfConversion.ToSingle8(d));
            var superMin = BlockPair.Twice(HalfConversion.ToSingle8(dmin));
            for (int pair = 0; pair < GroupsPerSuperBlock / 2; pair++)
            {
                LoadChunk(p, mask, out var l0, out var h0, out var l1, out var h1);
                var first = Octets(l0, h0, l1, h1, xp);
                LoadChunk(p + Int4Matrix.ChunkBytes, mask, out l0, out h0, out l1, out h1);
                var second = Octets(l0, h0, l1, h1, xp + Int4Matrix.ChunkSize);
                var scale = superScale * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(sc)));
                var min = superMin * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(m)));
                acc = BlockPair.AddScaleMin(BlockWordPairs(first, second), scale, min, xScales, xSums, acc);
                p += 2 * Int4Matrix.ChunkBytes;
                xp += 2 * Int4Matrix.ChunkSize;
                xScales += 2;
                xSums += 2;
                sc += 2 * Int4Matrix.TileRows;
                m += 2 * Int4Matrix.TileRows;
            }
        }
        acc.Store(result);
    }
}
