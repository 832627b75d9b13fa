namespace LlmCpu.Engine.Models;

/// <summary>
/// What every model of a family shares, whichever file describes it: its norm and whether the norm has a bias, whether
/// the feed-forward network is gated and its activation, how rotary embedding pairs dimensions and whether it always
/// rotates the whole head, and the usual residual wiring. The GGUF reader, the Hugging Face reader, the synthetic
/// shapes and the GGUF exporter's check against llama.cpp's graphs all start from this one table; what varies within a
/// family (the residual wiring where a file states it, biases, the rotated share, a configured activation) each reads
/// from its own source.
/// </summary>
/// <param name="Architecture">The family's name as GGUF spells it.</param>
/// <param name="Activation">The feed-forward activation; a Hugging Face config may name another.</param>
/// <param name="RotatesWholeHead">Whether the family's code rotates every dimension of a head (llama.cpp's Llama and Qwen2 graphs require it).</param>
/// <param name="Residual">The wiring of the family's best-known checkpoints; a file may state another.</param>
public sealed record FamilyTraits(string Architecture, NormKind Norm, bool NormBias, bool FeedForwardGated, FeedForwardActivation Activation,
    RotaryPairing RotaryPairing, bool RotatesWholeHead, ResidualLayout Residual)
{
    /// <summary>Llama (Llama 2 and 3, Mistral): RMSNorm, gated SiLU, rotate-half over the whole head, sequential.</summary>
    public static FamilyTraits Llama { get; } = new("llama", NormKind.Rms, false, true, FeedForwardActivation.Silu, RotaryPairing.HalfSplit, true, ResidualLayout.Sequential);

    /// <summary>Qwen2: Llama's traits (it differs in its biases).</summary>
    public static FamilyTraits Qwen2 { get; } = Llama with { Architecture = "qwen2" };

    /// <summary>GPT-NeoX (Pythia): LayerNorm with bias, ungated exact GELU, partial rotate-half, attention and FFN in parallel off two norms.</summary>
    public static FamilyTraits GptNeoX { get; } = new("gptneox", NormKind.Layer, true, false, FeedForwardActivation.Gelu, RotaryPairing.HalfSplit, false, ResidualLayout.ParallelTwoNorms);

    /// <summary>Falcon: LayerNorm with bias, ungated exact GELU, rotate-half, attention and FFN in parallel off one norm (7B, 40B's old decoder).</summary>
    public static FamilyTraits Falcon { get; } = new("falcon", NormKind.Layer, true, false, FeedForwardActivation.Gelu, RotaryPairing.HalfSplit, false, ResidualLayout.ParallelSharedNorm);

    /// <summary>GPT-J: LayerNorm with bias, ungated GELU (tanh form), partial rotary in interleaved pairs, attention and FFN in parallel off one norm.</summary>
    public static FamilyTraits GptJ { get; } = new("gptj", NormKind.Layer, true, false, FeedForwardActivation.GeluTanh, RotaryPairing.Interleaved, false, ResidualLayout.ParallelSharedNorm);

    /// <summary>Every family the engine runs.</summary>
    public static IReadOnlyList<FamilyTraits> All { get; } = [Llama, Qwen2, GptNeoX, Falcon, GptJ];

    /// <summary>The family named <paramref name="architecture"/> (as GGUF spells it), or null when the engine does not run it.</summary>
    public static FamilyTraits? Find(string architecture) => All.FirstOrDefault(f => f.Architecture == architecture);

    /// <summary>
    /// <paramref name="config"/> as a model of this family: its name and every trait of the table, the residual wiring
    /// the usual one (callers whose source states the wiring set it after).
    /// </summary>
    public ModelConfig ApplyTo(ModelConfig config) => config with
    {
        Architecture = Architecture, Norm = Norm, NormBias = NormBias, FeedForwardGated = FeedForwardGated, Activation = Activation,
        RotaryPairing = RotaryPairing, Residual = Residual,
    };
}
