using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// The codes of a 5- or 6-bit matrix (Q5_0, Q5_1, Q5_K, Q6_K) as <see cref="HighBitsMatMul"/> reads them: the low
/// 4 bits in the INT4 tile layout (<see cref="Lows"/>), the bits above in a <see cref="HighBitsPlane"/>
/// (<see cref="Plane"/>). The matrices own one each, beside their format's scales.
/// </summary>
internal sealed unsafe class HighBitsCodes : IDisposable
{
    private readonly NativeBuffer _lows;
    private readonly NativeBuffer _highs;
    private readonly int _rows;
    private readonly int _columns;

    /// <summary>Storage for <paramref name="rows"/> rows (in <paramref name="tiles"/> tiles) of <paramref name="columns"/> codes, a multiple of 32.</summary>
    public HighBitsCodes(int rows, int tiles, int columns)
    {
        _rows = rows;
        _columns = columns;
        _lows = new NativeBuffer((long)tiles * Int4Matrix.TileRows * columns / 2);
        _highs = new NativeBuffer(HighBitsPlane.ByteLength(tiles, columns));
    }

    /// <summary>Bytes of both parts.</summary>
    public long ByteLength => _lows.ByteLength + _highs.ByteLength;

    /// <summary>The low 4 bits of every code, in the INT4 tile layout.</summary>
    public Int4View Lows => new((byte*)_lows.Pointer, _rows, _columns);

    /// <summary>The bits above the low 4 of every code.</summary>
    public HighBitsPlane Plane => new((byte*)_highs.Pointer, _columns);

    /// <summary>Stores row <paramref name="row"/>'s 32 codes of chunk <paramref name="chunk"/> (in value order, each below 64).</summary>
    public void SetChunk(int row, int chunk, ReadOnlySpan<byte> codes) => Plane.SetChunk(Lows, row, chunk, codes);

    /// <summary>Code (0..63) of row <paramref name="row"/> at column <paramref name="k"/>.</summary>
    public int Code(int row, int k) => Plane.Code(Lows, row, k);

    public void Dispose()
    {
        _lows.Dispose();
        _highs.Dispose();
    }
}
