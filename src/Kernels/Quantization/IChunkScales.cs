using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How a <see cref="HighBitsMatMul"/> kernel turns one chunk's exact integer dots (eight rows' dots of the codes with
/// the activations' first 16 values and with their last 16) into the chunk's contribution to the outputs: the part of
/// the arithmetic that differs between the 5- and 6-bit formats. A struct per format, so the JIT compiles each
/// format's kernel with its combine inlined.
/// </summary>
internal unsafe interface IChunkScales
{
    /// <summary>Loads the eight rows' scales of chunk <paramref name="chunk"/> of tile <paramref name="tile"/> (SIMD paths).</summary>
    void BeginChunk(int tile, int chunk);

    /// <summary>
    /// acc + the chunk's contribution, from the eight rows' dots and the activations' scale, first-half sum
    /// <paramref name="xLow"/> and whole sum <paramref name="xSum"/>.
    /// </summary>
    Vector256<float> Combine(Vector256<int> rowsLow, Vector256<int> rowsHigh, float xScale, int xLow, int xSum, Vector256<float> acc);

    /// <summary>The same contribution for one row, in the same float operations (the scalar reference).</summary>
    float Contribution(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum);
}
