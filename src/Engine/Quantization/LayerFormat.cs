using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The INT4 format of each of a layer's four matrices: one format (recipe, symmetry, group size), with each kind's
/// group size taken from <see cref="GroupSizes"/> where a mix is given.
/// </summary>
internal readonly record struct LayerFormat(Int4Format Format, MatrixGroupSizes? GroupSizes = null)
{
    public Int4Format this[LinearInput kind] => GroupSizes is { } sizes ? sizes.FormatOf(Format, kind) : Format;

    public static implicit operator LayerFormat(Int4Format format) => new(format);

    /// <summary>The format, followed by the group sizes of a mix: "Q4 g128 sym gptq (QueryKeyValue g64, AttentionOutput g64, GateUp g128, Down g32)".</summary>
    public override string ToString() => GroupSizes is { IsUniform: false } sizes ? $"{Format} ({sizes})" : Format.ToString();
}
