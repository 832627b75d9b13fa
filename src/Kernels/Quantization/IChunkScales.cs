using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How a <see cref="HighBitsMatMul"/> kernel turns one chunk's exact integer products into the chunk's contribution to
/// the outputs: the part of the arithmetic that differs between the 5- and 6-bit formats. The kernel hands over the
/// 16-bit pair sums of the codes with the activations' first 16 values and with their last 16; the format weighs
/// them into one exact integer per row (<see cref="RowSums512"/>, <see cref="RowSums256"/>: the plain sum for formats
/// with one scale per chunk, the two sub-blocks' scales for Q6_K) and scales that (<see cref="Combine"/>). A struct per
/// format, so the JIT compiles each format's kernel with these inlined.
/// </summary>
internal unsafe interface IChunkScales
{
    /// <summary>Loads the eight rows' scales of chunk <paramref name="chunk"/> of tile <paramref name="tile"/> (SIMD paths).</summary>
    void BeginChunk(int tile, int chunk);

    /// <summary>
    /// Eight rows' integers from the pair sums of the first and second halves, row r's in 64-bit lane r
    /// (four 16-bit sums a row in each).
    /// </summary>
    Vector256<int> RowSums512(Vector512<short> sumLow, Vector512<short> sumHigh);

    /// <summary>
    /// Two tokens' integers in one register, rows interleaved (lane 2r the first token's row r, 2r + 1 the second's),
    /// from each token's pair sums of the two halves (<paramref name="lowA"/> and <paramref name="highA"/> the first's).
    /// </summary>
    Vector512<int> PairRowSums512(Vector512<short> lowA, Vector512<short> highA, Vector512<short> lowB, Vector512<short> highB);

    /// <summary>Each row's scales of the chunk <see cref="BeginChunk"/> loaded, twice (for <see cref="CombineChunkPair"/>).</summary>
    void BeginPairs();

    /// <summary>
    /// acc + the chunk's contribution for two tokens, rows interleaved as <see cref="PairRowSums512"/> gives them: the
    /// activations' scales, sums and half-sum pairs (<see cref="MatMul.ActivationScratch.HalfSumPairsByChunk"/>) of the
    /// two tokens side by side at the pointers. Lane for lane the operations of <see cref="Combine"/>.
    /// </summary>
    Vector512<float> CombineChunkPair(Vector512<int> rows, float* xScales, int* xSums, int* xHalfSumPairs, Vector512<float> acc);

    /// <summary>The same from 256-bit pair sums: rows 0-3 and rows 4-7 of each half, row r's in 64-bit lane r % 4.</summary>
    Vector256<int> RowSums256(Vector256<short> low03, Vector256<short> low47, Vector256<short> high03, Vector256<short> high47);

    /// <summary>
    /// acc + the chunk's contribution, from the eight rows' integers and the activations' scale, first-half sum
    /// <paramref name="xLow"/> and whole sum <paramref name="xSum"/>.
    /// </summary>
    Vector256<float> Combine(Vector256<int> rows, float xScale, int xLow, int xSum, Vector256<float> acc);

    /// <summary>
    /// <paramref name="acc"/> + the same contribution for one row from its dots of the two halves
    /// (<paramref name="dotLow"/>, <paramref name="dotHigh"/>), in the same integer and float operations (the scalar reference).
    /// </summary>
    float Accumulate(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum, float acc);

    /// <summary>
    /// <see cref="Accumulate"/> for tile <paramref name="tile"/>'s eight rows at once in portable 128-bit operations
    /// (the 128-bit kernel's combine): <paramref name="acc"/>[r] from the rows' dots at <paramref name="dotLow"/>[r] and
    /// <paramref name="dotHigh"/>[r], the same operations on each row.
    /// </summary>
    void PortableAccumulate(int tile, int chunk, int* dotLow, int* dotHigh, float xScale, int xLow, int xSum, float* acc);
}

/// <summary>The row sums of formats with one scale per chunk: each row's products of both halves added.</summary>
internal static class ChunkSums
{
    /*
     * These formats' codes are at most 31 (5 bits): a half's pair sums are at most 2 x 2 x 31 x 127 = 15,748 in
     * magnitude, the two halves' added 31,496, so they are added in 16 bits and widened once.
     */

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Plain512(Vector512<short> sumLow, Vector512<short> sumHigh) =>
        Int4MatMul.LanePairs(Int4MatMul.Widen(sumLow + sumHigh));

    /// <summary>
    /// Two tokens' row sums, rows interleaved: each token's halves added and widened, the pair's lanes gathered. Not
    /// <see cref="Int4MatMul.TokenWordPairs"/>, whose word order adds two of these 16-bit sums (up to 62,992) before widening.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> PlainPair512(Vector512<short> lowA, Vector512<short> highA, Vector512<short> lowB, Vector512<short> highB) =>
        Int4MatMul.TokenLanePairs(Int4MatMul.Widen(lowA + highA), Int4MatMul.Widen(lowB + highB));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Plain256(Vector256<short> low03, Vector256<short> low47, Vector256<short> high03, Vector256<short> high47)
    {
        var ones = Vector256.Create((short)1);
        return Int4MatMul.RowSums(Avx2.MultiplyAddAdjacent(low03, ones) + Avx2.MultiplyAddAdjacent(high03, ones),
            Avx2.MultiplyAddAdjacent(low47, ones) + Avx2.MultiplyAddAdjacent(high47, ones));
    }
}
