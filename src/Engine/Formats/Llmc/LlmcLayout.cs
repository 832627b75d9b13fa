namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>
/// Constants of the LlmCpu INT4 model file (.llmc); docs/file-format.md is the specification.
/// </summary>
public static class LlmcLayout
{
    /// <summary>"LLMCINT4" in ASCII.</summary>
    public static ReadOnlySpan<byte> Magic => "LLMCINT4"u8;

    /// <summary>2: INT4 tiles store each row's 32-column chunk as 16 bytes (Q4_0 nibble order); 1 interleaved row pairs.</summary>
    public const uint Version = 2;

    /// <summary>Every blob and the directory start on a multiple of this, so mapped arrays are cache-line aligned.</summary>
    public const int Alignment = 64;

    public const int HeaderSize = 64;

    public const string Extension = ".llmc";

    public static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;
}
