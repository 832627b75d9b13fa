namespace LlmCpu.Engine.Models;

/// <summary>The activation of the feed-forward network (of the gate, when it is gated).</summary>
public enum FeedForwardActivation
{
    /// <summary>x * sigmoid(x) (Hugging Face "silu").</summary>
    Silu,

    /// <summary>0.5 x (1 + erf(x / sqrt 2)), exact (Hugging Face "gelu": GPT-NeoX, Falcon).</summary>
    Gelu,

    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Hugging Face "gelu_new", "gelu_pytorch_tanh": GPT-J).</summary>
    GeluTanh,
}
