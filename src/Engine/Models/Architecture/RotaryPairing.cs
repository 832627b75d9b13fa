namespace LlmCpu.Engine.Models;

/// <summary>Which dimensions of a head rotary embedding rotates together, within the rotated dimensions.</summary>
public enum RotaryPairing
{
    /// <summary>Dimension i with i + r/2, for r rotated dimensions ("rotate half": Hugging Face Llama, GPT-NeoX, Falcon, Qwen2).</summary>
    HalfSplit,

    /// <summary>Dimension 2i with 2i + 1 (GPT-J).</summary>
    Interleaved,
}
