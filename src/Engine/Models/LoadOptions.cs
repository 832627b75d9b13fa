using LlmCpu.Engine.Diagnostics;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Models;

public sealed record LoadOptions
{
    public ModelPrecision Precision { get; init; } = ModelPrecision.AsStored;

    /// <summary>Group size and symmetry when <see cref="Precision"/> is <see cref="ModelPrecision.Int4"/>.</summary>
    public Int4Format Int4Format { get; init; } = Int4Format.Default;

    /// <summary>How INT4 matrices meet activations: INT8 (fast, the default) or FP32.</summary>
    public ActivationMode Activations { get; init; } = ActivationMode.Int8;

    /// <summary>The size and storage of the model's KV cache pool, and its prompt cache.</summary>
    public Runtime.KvCacheOptions KvCache { get; init; } = new();

    public IEngineLog Log { get; init; } = NullEngineLog.Instance;

    public CancellationToken Cancellation { get; init; }
}
