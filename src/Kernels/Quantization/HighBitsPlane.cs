using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// The bits above the low nibble of 5- and 6-bit codes whose low nibbles are stored in the INT4 tile layout: for each
/// nibble byte of a tile's chunk, a 4-bit field holding bits 4-5 of the low nibble's code (field bits 0-1) and of the
/// high nibble's code (field bits 2-3), two fields a byte in nibble-byte order; per tile and chunk, <see cref="HalfBytes"/>
/// bytes for each of the two halves. 5-bit codes use bits 0 and 2 of each field only: one layout and one kernel for
/// every format, at the cost of one bit a value for the 5-bit ones.
/// </summary>
internal readonly unsafe struct HighBitsPlane(byte* bytes, int columns)
{
    /// <summary>Bytes of the plane of one half of a tile's chunk: 64 nibble bytes, a 4-bit field each.</summary>
    public const int HalfBytes = 32;

    private readonly byte* _bytes = bytes;
    private readonly int _chunks = columns / Int4Matrix.ChunkSize;

    /// <summary>Bytes of the plane of a matrix of <paramref name="tiles"/> tiles and <paramref name="columns"/> columns.</summary>
    public static long ByteLength(int tiles, int columns) => (long)tiles * (columns / Int4Matrix.ChunkSize) * 2 * HalfBytes;

    /// <summary>The plane of half <paramref name="half"/> of tile <paramref name="tile"/>'s chunk <paramref name="chunk"/>.</summary>
    public byte* Highs(int tile, int chunk, int half) => _bytes + (((long)tile * _chunks + chunk) * 2 + half) * HalfBytes;

    /// <summary>Sets the 4-bit field of row r's byte j (0..15, Q4_0 order) of a tile's chunk.</summary>
    public void SetField(int tile, int chunk, int r, int j, byte field)
    {
        int n = r * Int4Matrix.RowHalfBytes + j % Int4Matrix.RowHalfBytes; // nibble byte within the half
        byte* b = Highs(tile, chunk, j / Int4Matrix.RowHalfBytes) + n / 2;
        *b = n % 2 == 0 ? (byte)((*b & 0xF0) | field) : (byte)((*b & 0x0F) | field << 4);
    }

    /// <summary>Bits 4-5 of row <paramref name="row"/>'s code at column <paramref name="k"/>, as 0..3.</summary>
    public int High(int row, int k)
    {
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows, j = k % Int4Matrix.ChunkSize;
        int byteIndex = j % Int4Matrix.RowChunkBytes;
        int n = r * Int4Matrix.RowHalfBytes + byteIndex % Int4Matrix.RowHalfBytes;
        byte b = Highs(tile, k / Int4Matrix.ChunkSize, byteIndex / Int4Matrix.RowHalfBytes)[n / 2];
        int field = n % 2 == 0 ? b & 0x0F : b >> 4;
        return j < Int4Matrix.RowChunkBytes ? field & 3 : field >> 2;
    }

    /// <summary>
    /// Stores row <paramref name="row"/>'s 32 codes of chunk <paramref name="chunk"/> (in value order, each below 64):
    /// the low nibbles into <paramref name="lows"/>' tile layout, the rest into this plane.
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetChunk(in Int4View lows, int row, int chunk, ReadOnlySpan<byte> codes)
    {
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows;
        var nibble = Vector128.Create((byte)0x0F);
        var first = Vector128.Create(codes[..Int4Matrix.RowChunkBytes]);
        var second = Vector128.Create(codes.Slice(Int4Matrix.RowChunkBytes, Int4Matrix.RowChunkBytes));
        lows.SetRowChunk(row, chunk, (first & nibble) | Vector128.ShiftLeft(second & nibble, 4));
        // Byte j's field: bits 4-5 of codes j and j + 16. Fields 2k and 2k + 1 share byte k of the row's four bytes in
        // each half's plane: in 16-bit lanes, the low byte plus the high byte moved down to bits 4-7.
        var fields = (Vector128.ShiftRightLogical(first, 4) | Vector128.ShiftLeft(Vector128.ShiftRightLogical(second, 4), 2)).AsUInt16();
        var pairs = Vector128.Narrow(fields & Vector128.Create((ushort)0x00FF) | Vector128.ShiftRightLogical(fields, 4), Vector128<ushort>.Zero).AsUInt32();
        int rowBytes = r * Int4Matrix.RowHalfBytes / 2;
        *(uint*)(Highs(tile, chunk, 0) + rowBytes) = pairs.ToScalar();
        *(uint*)(Highs(tile, chunk, 1) + rowBytes) = pairs.GetElement(1);
    }

    /// <summary>Code (0..63) of row <paramref name="row"/> at column <paramref name="k"/>.</summary>
    public int Code(in Int4View lows, int row, int k) => lows.Quant(row, k) | High(row, k) << 4;
}
