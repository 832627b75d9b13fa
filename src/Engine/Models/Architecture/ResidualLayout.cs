namespace LlmCpu.Engine.Models;

/// <summary>How attention and the feed-forward network of a layer meet the residual stream.</summary>
public enum ResidualLayout
{
    /// <summary>x += attn(norm1(x)); x += mlp(norm2(x)) (Llama, Mistral, Qwen2, GPT-NeoX without parallel residual).</summary>
    Sequential,

    /// <summary>h = norm(x); x += attn(h) + mlp(h): one norm feeds both branches (GPT-J, Falcon-7B).</summary>
    ParallelSharedNorm,

    /// <summary>x += attn(norm1(x)) + mlp(norm2(x)): both norms read the same x (GPT-NeoX, Falcon's new decoder).</summary>
    ParallelTwoNorms,
}
