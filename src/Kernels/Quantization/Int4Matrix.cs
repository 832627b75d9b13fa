using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/*
 * INT4 tile layout (version 3)
 * ============================
 * Rows are taken eight at a time (a tile). Along a row, weights come in chunks of 32. Each row's chunk is 16 bytes in
 * ggml's Q4_0 nibble order (byte j holds weight j in its low nibble and weight j + 16 in its high nibble); those 16
 * bytes are cut in two halves of 8, and a chunk of a tile (128 bytes) holds first every row's first half, then every
 * row's second half:
 *
 *   tile t, chunk c  (128 bytes, then chunk c+1 of the same tile follows)
 *   +--------+--------+-- ... --+--------+--------+--------+-- ... --+--------+
 *   | row 0  | row 1  |         | row 7  | row 0  | row 1  |         | row 7  |
 *   | bytes  | bytes  |         | bytes  | bytes  | bytes  |         | bytes  |
 *   | 0..7   | 0..7   |         | 0..7   | 8..15  | 8..15  |         | 8..15  |
 *   +--------+--------+-- ... --+--------+--------+--------+-- ... --+--------+
 *   first half: low nibbles weights 0..7, high nibbles 16..23; second half: low 8..15, high 24..31
 *
 *   quants: [tile][chunk][half][row][8 bytes]   a tile is 8 rows x KPadded/2 bytes, read front to back
 *   scales: [tile][group][8 rows] FP16          one 16-byte line per group of a tile
 *   zeros:  [tile][group][8 rows] byte          asymmetric only; symmetric uses the implicit zero point 8
 *
 * Why: "AND 0x0F" of a 64-byte half gives eight rows' weights of one octet of the chunk (8 consecutive weights per
 * row, in row order) and ">> 4" the octet 16 weights further; multiplied by that octet's activations broadcast to
 * every row (a 64-bit broadcast) and summed pairwise, each row's products stay in its own 64-bit lane. A row's sum is
 * then two 32-bit lanes, never a tree across registers, and one register of weights serves every token of a GEMM.
 * A 32-byte load is four rows of a half (AVX2). A row's 16 bytes, put back together from its two halves, are its Q4_0
 * chunk, which the scalar and 128-bit code read. Rows past N and columns past K are zero weights (quantized value = zero
 * point), so the kernels never branch on edges inside a tile. Version 2 kept each row's 16 bytes whole.
 */

/// <summary>A weight matrix quantized to INT4 in the tile layout described at the top of this file.</summary>
public sealed unsafe class Int4Matrix : WeightMatrix
{
    public const int TileRows = 8;
    public const int ChunkSize = 32;
    public const int ChunkBytes = TileRows * ChunkSize / 2;

    /// <summary>Bytes of one row in one chunk (its Q4_0 block of codes).</summary>
    public const int RowChunkBytes = ChunkSize / 2;

    /// <summary>Bytes of one half of a chunk: every row's 8 bytes of that half.</summary>
    public const int HalfChunkBytes = ChunkBytes / 2;

    /// <summary>Bytes of one row in one half of a chunk.</summary>
    public const int RowHalfBytes = RowChunkBytes / 2;

    private readonly byte* _quants;
    private readonly ushort* _scales;
    private readonly byte* _zeros;
    private readonly NativeBuffer[] _owned;

    /// <summary>An all-zero matrix in memory it owns, to be filled with <see cref="QuantizeRow"/> or <see cref="SetGroup"/>.</summary>
    public Int4Matrix(int rows, int columns, Int4Format format, ActivationMode activations = ActivationMode.Int8)
        : this(rows, columns, format, activations, external: null)
    {
    }

    /// <summary>
    /// A matrix over arrays that already hold the tile layout (for example, inside a memory-mapped model file);
    /// the caller keeps that memory alive and unchanged for the life of the matrix.
    /// </summary>
    public static Int4Matrix FromMemory(int rows, int columns, Int4Format format, ActivationMode activations, byte* quants, ushort* scales, byte* zeros)
    {
        if (format.Asymmetric == (zeros == null)) throw new ArgumentException("Zero points are required exactly when the format is asymmetric.", nameof(zeros));
        return new Int4Matrix(rows, columns, format, activations, ((nint)quants, (nint)scales, (nint)zeros));
    }

    private Int4Matrix(int rows, int columns, Int4Format format, ActivationMode activations, (nint Quants, nint Scales, nint Zeros)? external)
        : base(rows, columns)
    {
        var geometry = Int4Geometry.For(rows, columns, format);
        Int4Format = format;
        Activations = activations;
        KPadded = geometry.KPadded;
        GroupSize = geometry.GroupSize;
        BlockSize = geometry.BlockSize;
        Tiles = geometry.Tiles;
        Groups = geometry.Groups;
        QuantBytes = geometry.QuantBytes;
        ScaleBytes = geometry.ScaleBytes;
        ZeroBytes = geometry.ZeroBytes;
        if (external is { } memory)
        {
            _quants = (byte*)memory.Quants;
            _scales = (ushort*)memory.Scales;
            _zeros = (byte*)memory.Zeros;
            _owned = [];
            return;
        }
        var quants = new NativeBuffer(QuantBytes);
        var scales = new NativeBuffer(ScaleBytes);
        var zeros = format.Asymmetric ? new NativeBuffer(ZeroBytes) : null;
        _owned = zeros == null ? [quants, scales] : [quants, scales, zeros];
        _quants = (byte*)quants.Pointer;
        _scales = (ushort*)scales.Pointer;
        _zeros = zeros == null ? null : (byte*)zeros.Pointer;
        // Until quantized, every weight is its zero point: an all-zero matrix.
        Fill(_quants, QuantBytes, 0x88);
        if (_zeros != null) Fill(_zeros, ZeroBytes, 8);
    }

    private static void Fill(byte* start, long length, byte value)
    {
        for (long offset = 0; offset < length; offset += int.MaxValue)
            new Span<byte>(start + offset, (int)Math.Min(int.MaxValue, length - offset)).Fill(value);
    }

    /// <summary>Bytes of the packed quants array ([tile][chunk][row][16]).</summary>
    public long QuantBytes { get; }

    /// <summary>Bytes of the FP16 scales array ([tile][group][8]).</summary>
    public long ScaleBytes { get; }

    /// <summary>Bytes of the zero-point array ([tile][group][8]); 0 when symmetric.</summary>
    public long ZeroBytes { get; }

    /// <summary>The three arrays as stored, for writing them to a file unchanged.</summary>
    public (nint Quants, nint Scales, nint Zeros) RawArrays => ((nint)_quants, (nint)_scales, (nint)_zeros);

    public Int4Format Int4Format { get; }

    /// <summary>Whether multiplications quantize activations to INT8 (the fast mode) or keep them FP32.</summary>
    public ActivationMode Activations { get; set; }

    /// <summary>Columns rounded up to a whole number of groups (and chunks of 32).</summary>
    public int KPadded { get; }

    /// <summary>Weights per scale along a row (KPadded when per-channel).</summary>
    public int GroupSize { get; }

    public int Groups { get; }

    /// <summary>Activations per INT8 scale: the group size, or a divisor of the row for per-channel weights.</summary>
    public int BlockSize { get; }

    public int Tiles { get; }

    public override string Format => Int4Format.ToString();

    public override long ByteSize => QuantBytes + ScaleBytes + ZeroBytes;

    public override long OwnedBytes => _owned.Sum(b => b.ByteLength);

    public override int RowGrain => TileRows;

    /// <summary>The arrays as they are, for writing them and for references that read one value at a time.</summary>
    internal Int4View View => new(this, _quants, _scales, _zeros);

    /// <summary>The arrays for the kernels, with whether every scale is finite (checked once after each change).</summary>
    internal Int4View KernelView => new(this, _quants, _scales, _zeros, ScalesFinite);

    // Whether every scale is finite: unknown after any write, found by one pass over the scales when the matrix next
    // multiplies. Workers may find it at once; they find the same answer.
    private const int ScalesUnchecked = 0, ScalesAllFinite = 1, ScalesNotAllFinite = 2;
    private int _scaleCheck;

    /// <summary>Whether no FP16 scale is an infinity or a NaN (a damaged file's can be: those keep the exact conversion).</summary>
    internal bool ScalesFinite
    {
        get
        {
            int state = Volatile.Read(ref _scaleCheck);
            if (state == ScalesUnchecked)
            {
                state = Ops.HalfConversion.AllFinite(_scales, ScaleBytes / sizeof(ushort)) ? ScalesAllFinite : ScalesNotAllFinite;
                Volatile.Write(ref _scaleCheck, state);
            }
            return state == ScalesAllFinite;
        }
    }

    /// <summary>After a write to the scales: checked again before the next multiplication.</summary>
    private void ScalesChanged() => Volatile.Write(ref _scaleCheck, ScalesUnchecked);

    /// <summary>Quantizes row-major FP32 weights (Rows x Columns) with round-to-nearest.</summary>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, Int4Format format, ActivationMode activations = ActivationMode.Int8)
    {
        if (weights.Length < (long)rows * columns) throw new ArgumentException("Fewer weights than rows x columns.", nameof(weights));
        var matrix = new Int4Matrix(rows, columns, format, activations);
        for (int r = 0; r < rows; r++) matrix.QuantizeRow(r, weights.Slice(r * columns, columns));
        return matrix;
    }

    /// <summary>Quantizes one row of FP32 weights into place; rows can be filled one at a time while loading.</summary>
    [MethodImpl(LoadLoops.Compile)]
    public void QuantizeRow(int row, ReadOnlySpan<float> values)
    {
        ScalesChanged();
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        if (values.Length != Columns) throw new ArgumentException($"A row has {Columns} values.", nameof(values));
        Span<byte> q = stackalloc byte[GroupSize <= 4096 ? GroupSize : 0];
        byte[]? rented = GroupSize > 4096 ? new byte[GroupSize] : null;
        if (rented != null) q = rented;
        var view = View;
        for (int g = 0; g < Groups; g++)
        {
            int start = g * GroupSize;
            int length = Math.Clamp(Columns - start, 0, GroupSize);
            var group = values.Slice(Math.Min(start, Columns), length);
            var (scale, zero) = Int4Quantizer.Quantize(group, q, Int4Format.Asymmetric, Int4Format.Recipe);
            if (length < GroupSize) q.Slice(length).Fill(zero);
            view.SetScale(row, g, (Half)scale);
            if (_zeros != null) view.SetZero(row, g, zero);
            for (int k = 0; k < GroupSize; k++) view.SetQuant(row, start + k, q[k]);
        }
    }

    /// <summary>
    /// Stores one group of weights that are already quantized, as they are: <paramref name="quants"/> holds
    /// <see cref="GroupSize"/> 4-bit values (0..15, one per byte), <paramref name="scale"/> the group's FP16 scale and
    /// <paramref name="zero"/> its zero point (always 8 when symmetric). Values past <see cref="Columns"/> are stored as
    /// the zero point whatever they hold, as the kernels expect. This imports formats that already are this one
    /// (ggml's Q4_0 is symmetric INT4 in groups of 32 with FP16 scales) exactly, without quantizing again.
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetGroup(int row, int group, Half scale, ReadOnlySpan<byte> quants, byte zero = 8)
    {
        ScalesChanged();
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        if ((uint)group >= (uint)Groups) throw new ArgumentOutOfRangeException(nameof(group));
        if (quants.Length != GroupSize) throw new ArgumentException($"A group has {GroupSize} values.", nameof(quants));
        if (zero > 15 || (_zeros == null && zero != 8))
            throw new ArgumentOutOfRangeException(nameof(zero), zero, _zeros == null ? "A symmetric matrix's zero point is 8." : "A zero point is 0..15.");
        int bad = quants.IndexOfAnyExceptInRange((byte)0, (byte)15);
        if (bad >= 0) throw new ArgumentOutOfRangeException(nameof(quants), quants[bad], $"Value {bad} is not a 4-bit quant.");
        var view = View;
        view.SetScale(row, group, scale);
        if (_zeros != null) view.SetZero(row, group, zero);
        // A group is whole chunks of 32; in each, this row owns 16 bytes (weights j and j + 16 in byte j), split in two halves.
        int start = group * GroupSize;
        for (int c = 0; c < GroupSize; c += ChunkSize)
        {
            for (int j = 0; j < RowChunkBytes; j++)
            {
                byte low = start + c + j < Columns ? quants[c + j] : zero;
                byte high = start + c + j + RowChunkBytes < Columns ? quants[c + j + RowChunkBytes] : zero;
                *view.RowChunkByte(row, (start + c) / ChunkSize, j) = (byte)(high << 4 | low);
            }
        }
    }

    /// <summary>
    /// Stores row <paramref name="row"/> from ggml Q4_0 blocks (18 bytes per 32 values: the FP16 scale, then 16 bytes of
    /// codes with value j in the low nibble of byte j and value j + 16 in its high nibble), exactly: those 16 bytes are
    /// this layout's row chunk, so they are copied as they are. The matrix must be symmetric with groups of 32, and the
    /// blocks must cover the row (GGUF rows are whole blocks).
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetQ4_0Row(int row, ReadOnlySpan<byte> blocks)
    {
        ScalesChanged();
        const int blockBytes = 2 + RowChunkBytes;
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        if (Int4Format.GroupSize != ChunkSize || Int4Format.Asymmetric) throw new InvalidOperationException($"Q4_0 rows fit a symmetric group-32 matrix, not {Int4Format}.");
        if (blocks.Length != Groups * blockBytes || Columns != KPadded)
            throw new ArgumentException($"A row of {Columns} values is {Columns / ChunkSize} Q4_0 blocks of {blockBytes} bytes.", nameof(blocks));
        var view = View;
        int tile = row / TileRows, r = row % TileRows;
        for (int g = 0; g < Groups; g++)
        {
            // A row's 16 code bytes as one vector, not two span copies: a 7B file is 200 million blocks, and a call per
            // half was seconds of its load.
            var block = blocks.Slice(g * blockBytes, blockBytes);
            view.TileScales(tile, g)[r] = (ushort)(block[0] | block[1] << 8);
            view.SetRowChunk(row, g, Vector128.Create(block.Slice(2, RowChunkBytes)));
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var view = View;
        for (int k = 0; k < Columns; k++)
        {
            int g = k / GroupSize;
            destination[k] = (view.Quant(row, k) - view.Zero(row, g)) * view.Scale(row, g);
        }
    }

    public override void PrepareLayout(int tokens, ActivationScratch scratch)
    {
        // On the calling thread, before the workers take their tiles: the scales' check, if due, runs once.
        _ = ScalesFinite;
        if (Activations == ActivationMode.Int8) scratch.LayOutInt8(tokens, KPadded, BlockSize);
        else scratch.LayOutFloat32(tokens, KPadded, GroupSize);
    }

    public override void PrepareTokens(float* input, int first, int last, ActivationScratch scratch)
    {
        if (Activations == ActivationMode.Int8) scratch.QuantizeInt8Tokens(input, first, last, Columns);
        else scratch.PadFloat32Tokens(input, first, last, Columns);
    }

    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch) =>
        Int4MatMul.Multiply(KernelDispatch.Best, KernelView, Activations, scratch, output, outputStride, tokens, rowBegin / TileRows, (rowEnd + TileRows - 1) / TileRows);

    public override string ActivationLayout => Activations == ActivationMode.Int8 ? $"int8 blocks of {BlockSize}, {KPadded} wide" : $"float32 groups of {GroupSize}, {KPadded} wide";

    public override void Dispose()
    {
        foreach (var buffer in _owned) buffer.Dispose();
        base.Dispose();
    }
}
