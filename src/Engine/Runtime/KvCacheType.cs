namespace LlmCpu.Engine.Runtime;

/// <summary>How a KV cache stores keys and values. Attention computes in FP32 either way.</summary>
public enum KvCacheType
{
    /// <summary>4 bytes a value: the numbers the forward pass computed, exactly.</summary>
    Float32,

    /// <summary>2 bytes a value: half the memory; attention converts each block of keys and values as it reads it.</summary>
    Float16,

    /// <summary>
    /// 1 byte a value plus an FP32 scale per position and key/value head (about 0.53 of FP16's memory at a head
    /// dimension of 64): symmetric 8-bit, quantized as each position is written; attention converts each block back
    /// to FP32 as it reads it.
    /// </summary>
    Int8,
}
