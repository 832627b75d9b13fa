using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

/// <summary>
/// A matrix a file already stores as 4-bit codes in groups along each row, with an FP16 scale and a zero point per
/// group (a GPTQ or AWQ checkpoint's linear layer): copied into an <see cref="Int4Matrix"/> of <see cref="Format"/>
/// exactly, group by group, never quantized again.
/// </summary>
internal interface IInt4GroupSource : IMatrixSource
{
    /// <summary>The group size and whether any zero point differs from 8 (asymmetric).</summary>
    Int4Format Format { get; }

    /// <summary>
    /// Row <paramref name="row"/>'s group <paramref name="group"/>: its codes (0..15, <see cref="Format"/>'s group size
    /// of them; past the row's end, anything), scale and zero point.
    /// </summary>
    (Half Scale, byte Zero) ReadGroup(int row, int group, Span<byte> codes);
}
