namespace LlmCpu.Kernels.Quantization;

/// <summary>The padded sizes of an INT4 matrix of a given shape and format, and the byte size of each of its arrays.</summary>
public readonly record struct Int4Geometry(int KPadded, int GroupSize, int Groups, int BlockSize, int Tiles, long QuantBytes, long ScaleBytes, long ZeroBytes)
{
    public static Int4Geometry For(int rows, int columns, Int4Format format)
    {
        format.Validate();
        int chunks = (columns + Int4Matrix.ChunkSize - 1) / Int4Matrix.ChunkSize;
        int kPadded, groupSize, blockSize;
        if (format.GroupSize == Int4Format.PerChannel)
        {
            kPadded = chunks * Int4Matrix.ChunkSize;
            groupSize = kPadded;
            // Activation blocks: the largest of 128, 64, 32 that divides the row.
            blockSize = kPadded % 128 == 0 ? 128 : kPadded % 64 == 0 ? 64 : 32;
        }
        else
        {
            groupSize = format.GroupSize;
            kPadded = (columns + groupSize - 1) / groupSize * groupSize;
            blockSize = groupSize;
        }
        int tiles = (rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows;
        int groups = kPadded / groupSize;
        return new Int4Geometry(kPadded, groupSize, groups, blockSize, tiles,
            checked((long)tiles * Int4Matrix.TileRows * kPadded / 2),
            checked((long)tiles * groups * Int4Matrix.TileRows * sizeof(ushort)),
            format.Asymmetric ? checked((long)tiles * groups * Int4Matrix.TileRows) : 0);
    }
}
