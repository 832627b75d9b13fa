namespace LlmCpu.Kernels.Quantization;

/// <summary>A matrix that stores rows given as ggml blocks, exactly as a GGUF file holds them (one row of blocks at a time).</summary>
public interface IGgmlBlockRows
{
    /// <summary>Stores row <paramref name="row"/> from its blocks.</summary>
    void SetRow(int row, ReadOnlySpan<byte> blocks);
}
