using System.Diagnostics;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Where forward passes spend their time, stage by stage, summed over layers and calls: set
/// <see cref="InferenceSession.Timings"/> to collect (profiling tools do; generation leaves it null and pays nothing).
/// </summary>
public sealed class ForwardTimings
{
    public enum Stage
    {
        Embedding,
        Norms,
        QueryKeyValue,

        /// <summary>Rotary embedding and the cache write of a prefill chunk; a decode step's are in <see cref="Attention"/>.</summary>
        RotaryAndCache,
        Attention,
        AttentionOutput,
        GateUp,
        Activation,
        Down,
        Residual,
        Logits,
    }

    private readonly long[] _ticks = new long[Enum.GetValues<Stage>().Length];

    public void Add(Stage stage, long startTimestamp) => _ticks[(int)stage] += Stopwatch.GetTimestamp() - startTimestamp;

    public TimeSpan this[Stage stage] => Stopwatch.GetElapsedTime(0, _ticks[(int)stage]);

    public TimeSpan Total => Stopwatch.GetElapsedTime(0, _ticks.Sum());

    public void Reset() => Array.Clear(_ticks);
}
