using LlmCpu.Engine.Diagnostics;

namespace LlmCpu.Engine.Models;

public sealed record LoadOptions
{
    public ModelPrecision Precision { get; init; } = ModelPrecision.AsStored;

    public IEngineLog Log { get; init; } = NullEngineLog.Instance;

    public CancellationToken Cancellation { get; init; }
}
