using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How a tile kernel turns one activation block's eight exact integer row sums into its contribution to the outputs:
/// the part of the INT8 arithmetic that differs between formats that share the 4-bit tile layout. The kernels are
/// generic over it (a struct, so the JIT compiles each format's kernel with its combine inlined).
/// </summary>
internal unsafe interface IGroupScales
{
    /// <summary>Loads what group <paramref name="group"/> of tile <paramref name="tile"/> needs (once per group, shared by every token).</summary>
    void BeginGroup(int tile, int group);

    /// <summary>acc + this block's contribution, for activations with scale <paramref name="xScale"/> and integer sum <paramref name="xSum"/>.</summary>
    Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc);

    /// <summary>
    /// After <see cref="BeginGroup"/>, puts this group's per-row values in the order <paramref name="order"/> gives
    /// (lane i takes row order[i]), for a kernel whose row sums come out in that order and which restores the order of
    /// its results once at the end: AVX2's horizontal add leaves rows 0, 1, 4, 5, 2, 3, 6, 7, and putting them back in
    /// order on every block cost a sixth of the time of the kernel for groups of 32.
    /// </summary>
    void PermuteRows(Vector256<int> order);

    /// <summary>
    /// After <see cref="BeginGroup"/>, readies what <see cref="CombinePair"/> needs (AVX-512 only): asked for by the
    /// kernels that combine token pairs only, so that the one-token kernels of decode do not pay for it every group.
    /// </summary>
    void BeginPairs();

    /// <summary>
    /// <see cref="Combine"/> for two tokens at once (AVX-512 only), rows interleaved: lane 2r of
    /// <paramref name="rowSums"/> and <paramref name="acc"/> is row r of the first token, lane 2r + 1 row r of the
    /// second, whose activation scale and sum follow the first's (<paramref name="xScales"/>[0..1],
    /// <paramref name="xSums"/>[0..1]). Each lane gets exactly Combine's operations.
    /// </summary>
    Vector512<float> CombinePair(Vector512<int> rowSums, float* xScales, int* xSums, Vector512<float> acc);

    /// <summary>
    /// For one token and groups of 32 (AVX-512 only): acc plus group <paramref name="group"/>'s contribution, then plus
    /// the next group's, each exactly as <see cref="BeginGroup"/> and <see cref="Combine"/> give it. Lanes 0-7 of
    /// <paramref name="rowSums"/> are the first group's rows, 8-15 the second's; <paramref name="xScales"/> and
    /// <paramref name="xSums"/> hold the two blocks' values side by side. Both groups' scales are read and converted at
    /// once, and the combine runs on 512-bit halves (<see cref="BlockPair"/>).
    /// </summary>
    Vector256<float> CombineBlockPair(int tile, int group, Vector512<int> rowSums, float* xScales, int* xSums, Vector256<float> acc);
}

/// <summary>Vectors for two consecutive blocks of one token: lanes 0-7 the first block's eight rows, 8-15 the second's.</summary>
internal static unsafe class BlockPair
{
    /// <summary>The two blocks' values at <paramref name="pair"/> (side by side in memory), each spread over its half: one 64-bit load and a permute.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Of(int* pair) =>
        Avx512F.PermuteVar16x32(Vector512.Create(*(long*)pair).AsInt32(), Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Of(float* pair) => Of((int*)pair).AsSingle();

    /// <summary>The same eight row values in both halves (a super-block's scales, shared by its groups).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Twice(Vector256<float> rows) => Vector512.Create(rows, rows);

    /// <summary>acc + the first block's contributions, then + the second's: the reference's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddInOrder(Vector512<float> contributions, Vector256<float> acc) =>
        acc + contributions.GetLower() + contributions.GetUpper();

    /// <summary>
    /// The formats with a scale and a minimum per group: acc + float(dot) * (scale * xScale) - (min * xScale) * float(xSum)
    /// for the first block, then for the second, as <see cref="IGroupScales.Combine"/> gives each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddScaleMin(Vector512<int> rowSums, Vector512<float> scale, Vector512<float> min, float* xScales, int* xSums, Vector256<float> acc)
    {
        var xs = Of(xScales);
        return AddInOrder(Avx512F.ConvertToVector512Single(rowSums) * (scale * xs) - min * xs * Avx512F.ConvertToVector512Single(Of(xSums)), acc);
    }

    /// <summary>fma(product, scale, acc) for the first block's lanes, then for the second's: the reference's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedInOrder(Vector512<float> product, Vector512<float> scale, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(product.GetUpper(), scale.GetUpper(), Vector256.FusedMultiplyAdd(product.GetLower(), scale.GetLower(), acc));
}

/// <summary>Vectors for two tokens with rows interleaved: lane 2r holds row r of the first token, lane 2r + 1 of the second.</summary>
internal static unsafe class TokenPair
{
    /// <summary>The two tokens' values at <paramref name="pair"/> (side by side in memory) repeated: one 64-bit broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Of(int* pair) => Vector512.Create(*(long*)pair).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Of(float* pair) => Vector512.Create(*(long*)pair).AsSingle();

    /// <summary>Each of eight row values twice (lanes 2r and 2r + 1): the same rows for both tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> EachRowTwice(Vector256<float> rows) =>
        Avx512F.PermuteVar16x32(rows.ToVector512Unsafe(), Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> EachRowTwice(Vector256<int> rows) => EachRowTwice(rows.AsSingle()).AsInt32();
}

/// <summary>
/// Whether an INT4 matrix stores a zero point per group and row or has the symmetric 8 everywhere. A type argument,
/// so that each kernel is compiled for one of the two and tests nothing per block: decode on groups of 32 combines
/// every chunk, and the test with the zero points' address arithmetic that the symmetric case does not need was a
/// fixed share of that loop.
/// </summary>
internal interface IZeroPoints
{
    static abstract bool Stored { get; }
}

/// <summary>The zero point is 8 in every row and group: the correction is a shift of the activations' sum.</summary>
internal readonly struct SymmetricZeros : IZeroPoints
{
    public static bool Stored => false;
}

/// <summary>A zero point per group and row, one byte each, beside the scales.</summary>
internal readonly struct StoredZeros : IZeroPoints
{
    public static bool Stored => true;
}

/// <summary>
/// <see cref="Int4Matrix"/>: an FP16 scale per group and an integer zero point (8 when symmetric, <typeparamref name="Z"/>):
/// acc + float(rowSums - zero * xSum) * (scale * xScale), the last multiply and add fused, as in the reference. The
/// scales are widened by <typeparamref name="H"/>: <see cref="FiniteHalves"/> when the matrix's scales were checked
/// to be finite (<see cref="Int4View.ScalesFinite"/>), four operations fewer per sixteen scales than the exact
/// conversion, which decode on groups of 32 pays every second chunk; <see cref="AnyHalves"/> otherwise, so a damaged
/// scale still makes its results infinite or NaN.
/// </summary>
internal unsafe struct Int4GroupScales<Z, H>(in Int4View w) : IGroupScales where Z : struct, IZeroPoints where H : struct, IHalfWidening
{
    private readonly ushort* _scales = w.Scales;
    private readonly byte* _zeros = w.Zeros;
    private readonly int _groups = w.Groups;
    private Vector256<float> _scale;
    private Vector256<int> _zero;
    private Vector512<float> _scalePair;
    private Vector512<int> _zeroPair;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginGroup(int tile, int group)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        _scale = H.Widen8(_scales + line);
        if (Z.Stored) _zero = Avx2.ConvertToVector256Int32(_zeros + line);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PermuteRows(Vector256<int> order)
    {
        _scale = Avx2.PermuteVar8x32(_scale, order);
        if (Z.Stored) _zero = Avx2.PermuteVar8x32(_zero, order);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginPairs()
    {
        _scalePair = TokenPair.EachRowTwice(_scale);
        if (Z.Stored) _zeroPair = TokenPair.EachRowTwice(_zero);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(*xSum);
        // Symmetric weights have the zero point 8 in every row: the correction is one broadcast and a shift.
        var corrected = !Z.Stored ? rowSums - (xs << 3) : rowSums - _zero * xs;
        return Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(corrected), _scale * Vector256.Create(xScale), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombinePair(Vector512<int> rowSums, float* xScales, int* xSums, Vector512<float> acc)
    {
        var xs = TokenPair.Of(xSums);
        var corrected = !Z.Stored ? rowSums - (xs << 3) : rowSums - _zeroPair * xs;
        return Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(corrected), _scalePair * TokenPair.Of(xScales), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> CombineBlockPair(int tile, int group, Vector512<int> rowSums, float* xScales, int* xSums, Vector256<float> acc)
    {
        long line = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        var xs = BlockPair.Of(xSums);
        var corrected = !Z.Stored ? rowSums - (xs << 3) : rowSums - Avx512F.ConvertToVector512Int32(Vector128.Load(_zeros + line)) * xs;
        var scale = H.Widen16(_scales + line) * BlockPair.Of(xScales);
        return BlockPair.FusedInOrder(Avx512F.ConvertToVector512Single(corrected), scale, acc);
    }
}

/// <summary>
/// Formats whose groups of 32 each have a scale and a minimum per row: value = scale * code - min, and a block
/// contributes float(dot) * (scale * xScale) - (min * xScale) * float(xSum) on every path.
/// </summary>
internal interface IScaleMinGroups : IGroupScales
{
    /// <summary>Row <paramref name="row"/>'s (scale, min) of group <paramref name="group"/>, for the reference and dequantization.</summary>
    (float Scale, float Min) Row(int row, int group);

    /// <summary>
    /// Group <paramref name="group"/>'s scales and minima of tile <paramref name="tile"/>'s rows 0-3 and 4-7, the values
    /// <see cref="Row"/> gives, in portable 128-bit operations (the 128-bit kernel's combine, <see cref="PortableScaleMinCombine{S}"/>).
    /// </summary>
    void PortableRows(int tile, int group, out Vector128<float> scaleLow, out Vector128<float> scaleHigh, out Vector128<float> minLow, out Vector128<float> minHigh);
}
