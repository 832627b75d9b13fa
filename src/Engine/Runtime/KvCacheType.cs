namespace LlmCpu.Engine.Runtime;

/// <summary>How a KV cache stores keys and values. Attention computes in FP32 either way.</summary>
public enum KvCacheType
{
    /// <summary>4 bytes a value: the numbers the forward pass computed, exactly.</summary>
    Float32,

    /// <summary>2 bytes a value: half the memory; attention converts each block of keys and values as it reads it.</summary>
    Float16,
}
