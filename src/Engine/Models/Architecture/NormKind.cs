namespace LlmCpu.Engine.Models;

/// <summary>How a decoder normalizes the residual stream before each sub-layer and before the output projection.</summary>
public enum NormKind
{
    /// <summary>RMSNorm: x / sqrt(mean(x^2) + eps) * weight (Llama, Mistral, Qwen2).</summary>
    Rms,

    /// <summary>LayerNorm: (x - mean) / sqrt(var + eps) * weight (+ bias) (GPT-NeoX, Falcon, GPT-J).</summary>
    Layer,
}
