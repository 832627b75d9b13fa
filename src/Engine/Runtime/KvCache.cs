using LlmCpu.Kernels.Memory;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Keys and values of every layer for up to <see cref="Capacity"/> positions, in one pre-allocated block. Per layer,
/// keys are stored transposed, (kvDim, <see cref="KeyStride"/>): dimension j of every position in a row, so attention
/// computes a query against many positions with plain vector loads (no sum across a register per position). Values
/// follow, (Capacity, kvDim), one position per row, the order a weighted sum of values reads. Sessions rent caches from
/// a <see cref="KvCachePool"/> and give them back, so generation never allocates one.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    /// <summary>Key rows are padded to a multiple of this many positions, so attention reads whole blocks of keys.</summary>
    public const int KeyBlock = 64;

    private readonly NativeBuffer _buffer;

    internal KvCache(int layers, int capacity, int kvDim)
    {
        Layers = layers;
        Capacity = capacity;
        KvDim = kvDim;
        KeyStride = (capacity + KeyBlock - 1) / KeyBlock * KeyBlock;
        LayerFloats = (long)kvDim * KeyStride + (long)capacity * kvDim;
        _buffer = NativeBuffer.ForFloats(layers * LayerFloats);
    }

    public int Layers { get; }

    public int Capacity { get; }

    public int KvDim { get; }

    /// <summary>Distance between two dimensions' rows of keys: <see cref="Capacity"/> rounded up to <see cref="KeyBlock"/>.</summary>
    public int KeyStride { get; }

    private long LayerFloats { get; }

    public long ByteSize => _buffer.ByteLength;

    /// <summary>(kvDim, KeyStride) keys of <paramref name="layer"/>: key j of position p is at j * KeyStride + p.</summary>
    public float* Keys(int layer) => _buffer.Floats + layer * LayerFloats;

    /// <summary>(Capacity, kvDim) values of <paramref name="layer"/>.</summary>
    public float* Values(int layer) => Keys(layer) + (long)KvDim * KeyStride;

    public void Dispose() => _buffer.Dispose();
}
