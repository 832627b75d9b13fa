using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// A tiled matrix's multiplication on a kernel path chosen by the caller: <see cref="WeightMatrix.MultiplyRows"/> runs
/// the best path; the conformance checks run every path the processor has against the scalar reference.
/// </summary>
internal unsafe interface ITileKernels
{
    /// <summary>Tiles of eight rows (the last may be partial).</summary>
    int Tiles { get; }

    /// <summary>Output rows of tiles [<paramref name="tileBegin"/>, <paramref name="tileEnd"/>) for every token, on <paramref name="path"/>.</summary>
    void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd);
}
