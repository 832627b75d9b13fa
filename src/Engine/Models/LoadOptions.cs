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

    /// <summary>
    /// Whether a file whose weights are used in place (an INT4 .llmc file) is mapped (the default: nothing copied at
    /// load, pages shared with the page cache) or, false, read into the process's own memory, on large pages where the
    /// system has them: a read of the file at load for faster decoding (llama.cpp's --no-mmap). Other formats copy
    /// or convert their weights at load either way.
    /// </summary>
    public bool MemoryMap { get; init; } = true;

    /// <summary>
    /// Leave float matrices (F32, F16, BF16) in the memory-mapped file as <see cref="DeferredMatrix"/> instead of copying
    /// them, the file kept open for the model's lifetime: a calibrated conversion reads each layer's float weights when
    /// it quantizes that layer, so the float model is never held whole. Such a model is a source for
    /// <see cref="Quantization.ModelQuantizer"/> only, not for inference. Formats that use their weights in place (.llmc) ignore it.
    /// </summary>
    internal bool DeferFloatMatrices { get; init; }

    public IEngineLog Log { get; init; } = NullEngineLog.Instance;

    public CancellationToken Cancellation { get; init; }
}
