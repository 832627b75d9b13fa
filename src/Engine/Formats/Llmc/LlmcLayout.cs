namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>
/// Constants of the LlmCpu INT4 model file (.llmc); docs/file-format.md is the specification.
/// </summary>
public static class LlmcLayout
{
    /// <summary>"LLMCINT4" in ASCII.</summary>
    public static ReadOnlySpan<byte> Magic => "LLMCINT4"u8;

    /// <summary>
    /// 5: a tensor may be of kind "q8_0" (ggml's Q8_0 in the tile layout of Q8Matrix: blobs "codes" and "scales"); a
    /// version 4 file is read as it is, having none. 4: the directory's config describes the architecture (norm, residual layout, rotary, biases, window, MLP) and
    /// bias tensors may follow; 3, whose config has only a Llama's fields, is read as a Llama. 3: each row's 16-byte
    /// chunk is split in two 8-byte halves, all rows' first halves before all second halves (see Int4Matrix), so a
    /// row's products stay in its own lane; 2 stored each row's chunk whole; 1 interleaved row pairs.
    /// </summary>
    public const uint Version = 5;

    /// <summary>The oldest version read: version 3's tensors are laid out as version 4's and 5's, its config is a Llama's.</summary>
    public const uint OldestReadableVersion = 3;

    /// <summary>Every blob and the directory start on a multiple of this, so mapped arrays are cache-line aligned.</summary>
    public const int Alignment = 64;

    public const int HeaderSize = 64;

    public const string Extension = ".llmc";

    public static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;
}
