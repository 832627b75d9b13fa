using LlmCpu.Kernels.Memory;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Keys and values of every layer for up to <see cref="Capacity"/> positions, in one pre-allocated block:
/// layer l's keys are (Capacity, kvDim) at offset 2*l*Capacity*kvDim, its values follow. Sessions rent
/// caches from a <see cref="KvCachePool"/> and give them back, so generation never allocates one.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly NativeBuffer _buffer;

    internal KvCache(int layers, int capacity, int kvDim)
    {
        Layers = layers;
        Capacity = capacity;
        KvDim = kvDim;
        _buffer = NativeBuffer.ForFloats(2L * layers * capacity * kvDim);
    }

    public int Layers { get; }

    public int Capacity { get; }

    public int KvDim { get; }

    public long ByteSize => _buffer.ByteLength;

    /// <summary>(Capacity, kvDim) keys of <paramref name="layer"/>.</summary>
    public float* Keys(int layer) => _buffer.Floats + 2L * layer * Capacity * KvDim;

    /// <summary>(Capacity, kvDim) values of <paramref name="layer"/>.</summary>
    public float* Values(int layer) => Keys(layer) + (long)Capacity * KvDim;

    public void Dispose() => _buffer.Dispose();
}
