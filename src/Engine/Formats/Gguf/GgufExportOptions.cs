using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>How <see cref="GgufModelExporter"/> writes a model.</summary>
public sealed record GgufExportOptions
{
    /// <summary>Type of the layer matrices: F32, F16, Q8_0 or Q4_0. Norm weights are always F32.</summary>
    public GgmlType Type { get; init; } = GgmlType.F16;

    /// <summary>
    /// Whether the token embedding and the output projection take <see cref="Type"/> too when it is a quantized type.
    /// Off by default: they stay F16, as this engine keeps them when it quantizes, because the next-token
    /// distribution is most sensitive to them.
    /// </summary>
    public bool QuantizeEmbeddingAndOutput { get; init; }

    /// <summary>Replace an existing file at the destination.</summary>
    public bool Overwrite { get; init; }

    /// <summary><c>general.name</c>; the model's name when not set.</summary>
    public string? Name { get; init; }

    public IEngineLog Log { get; init; } = NullEngineLog.Instance;

    public CancellationToken Cancellation { get; init; }
}
