using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

/// <summary>Raw pointers to an <see cref="Int4Matrix"/>'s arrays and its geometry, for the kernels.</summary>
internal readonly unsafe struct Int4View
{
    public readonly byte* Quants;
    public readonly ushort* Scales;
    public readonly byte* Zeros; // null when symmetric
    public readonly int Rows;
    public readonly int Columns;
    public readonly int KPadded;
    public readonly int GroupSize;
    public readonly int Groups;
    public readonly int BlockSize;
    public readonly int Chunks;

    /// <summary>
    /// Whether every FP16 scale was checked to be finite (<see cref="Int4Matrix"/> checks once, when it first multiplies
    /// after a change), so the kernels may widen the scales without the infinity and NaN fix-up.
    /// </summary>
    public readonly bool ScalesFinite;

    /// <summary>
    /// A view of 4-bit codes in the tile layout with groups (and activation blocks) of 32 and no FP16 scales or zero
    /// points of its own: for formats whose scales live elsewhere (<see cref="Q4KMatrix"/>).
    /// </summary>
    public Int4View(byte* quants, int rows, int columns)
    {
        Quants = quants;
        Rows = rows;
        Columns = columns;
        KPadded = columns;
        GroupSize = Int4Matrix.ChunkSize;
        Groups = columns / Int4Matrix.ChunkSize;
        BlockSize = Int4Matrix.ChunkSize;
        Chunks = Groups;
    }

    public Int4View(Int4Matrix m, byte* quants, ushort* scales, byte* zeros, bool scalesFinite = false)
    {
        ScalesFinite = scalesFinite;
        Quants = quants;
        Scales = scales;
        Zeros = zeros;
        Rows = m.Rows;
        Columns = m.Columns;
        KPadded = m.KPadded;
        GroupSize = m.GroupSize;
        Groups = m.Groups;
        BlockSize = m.BlockSize;
        Chunks = m.KPadded / Int4Matrix.ChunkSize;
    }

    /// <summary>First byte of tile <paramref name="tile"/>'s quants.</summary>
    public byte* Tile(int tile) => Quants + (long)tile * Int4Matrix.TileRows * KPadded / 2;

    /// <summary>The 8 FP16 scales of a tile's group.</summary>
    public ushort* TileScales(int tile, int group) => Scales + ((long)tile * Groups + group) * Int4Matrix.TileRows;

    /// <summary>The 8 zero points of a tile's group (asymmetric only).</summary>
    public byte* TileZeros(int tile, int group) => Zeros + ((long)tile * Groups + group) * Int4Matrix.TileRows;

    /// <summary>Byte <paramref name="j"/> (0..15) of a row's 16-byte Q4_0 block in chunk <paramref name="chunk"/>: weights j and j + 16.</summary>
    public byte* RowChunkByte(int row, int chunk, int j) =>
        Tile(row / Int4Matrix.TileRows) + (long)chunk * Int4Matrix.ChunkBytes + j / Int4Matrix.RowHalfBytes * Int4Matrix.HalfChunkBytes
        + row % Int4Matrix.TileRows * Int4Matrix.RowHalfBytes + j % Int4Matrix.RowHalfBytes;

    /// <summary>Stores row <paramref name="row"/>'s 16 bytes of chunk <paramref name="chunk"/> (Q4_0 order: byte j holds weights j and j + 16).</summary>
    public void SetRowChunk(int row, int chunk, Vector128<byte> bytes)
    {
        byte* first = RowChunkByte(row, chunk, 0);
        *(ulong*)first = bytes.AsUInt64().ToScalar();
        *(ulong*)(first + Int4Matrix.HalfChunkBytes) = bytes.AsUInt64().GetElement(1);
    }

    /// <summary>The 16 bytes of row <paramref name="r"/> (0..7) of a tile's chunk starting at <paramref name="chunk"/>, in Q4_0 order.</summary>
    public static Vector128<byte> RowChunk(byte* chunk, int r) =>
        Vector128.Create(*(ulong*)(chunk + r * Int4Matrix.RowHalfBytes),
            *(ulong*)(chunk + Int4Matrix.HalfChunkBytes + r * Int4Matrix.RowHalfBytes)).AsByte();

    private long QuantIndex(int row, int k, out bool high)
    {
        int j = k % Int4Matrix.ChunkSize;
        high = j >= Int4Matrix.RowChunkBytes;
        return RowChunkByte(row, k / Int4Matrix.ChunkSize, j % Int4Matrix.RowChunkBytes) - Quants;
    }

    public int Quant(int row, int k)
    {
        byte b = Quants[QuantIndex(row, k, out bool high)];
        return high ? b >> 4 : b & 0x0F;
    }

    public void SetQuant(int row, int k, byte value)
    {
        long i = QuantIndex(row, k, out bool high);
        Quants[i] = high ? (byte)((Quants[i] & 0x0F) | (value << 4)) : (byte)((Quants[i] & 0xF0) | value);
    }

    public float Scale(int row, int group) => (float)BitConverter.UInt16BitsToHalf(TileScales(row / 8, group)[row % 8]);

    public void SetScale(int row, int group, Half value) => TileScales(row / 8, group)[row % 8] = BitConverter.HalfToUInt16Bits(value);

    public int Zero(int row, int group) => Zeros == null ? 8 : TileZeros(row / 8, group)[row % 8];

    public void SetZero(int row, int group, byte value) => TileZeros(row / 8, group)[row % 8] = value;
}
