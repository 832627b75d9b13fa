using System.Numerics.Tensors;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// One sequence's keys and values: a block table into its model's <see cref="KvCachePool"/>. Position p lives in the
/// sequence's block p / <see cref="KeyBlock"/>, at offset p mod KeyBlock; within a block, per layer, keys are stored
/// transposed, (kvDim, KeyBlock): dimension j of every position in a row, so attention computes a query against many
/// positions with plain vector loads; values follow, (KeyBlock, kvDim), one position per row. Blocks are taken from the
/// pool when positions are first reserved and given back when the sequence is rewound past them, when they fall out of
/// a sliding window, and when the sequence is disposed. Keys and values are written in place. Not thread-safe: one
/// sequence belongs to one forward pass at a time.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    /// <summary>Positions of one block (the attention reads keys a block at a time).</summary>
    public const int KeyBlock = KvCachePool.BlockPositions;

    private readonly int[] _blocks;   // pool block of each of the sequence's blocks; -1 where none is held
    private readonly nint[] _memory;  // that block's memory, 0 where none is held
    private bool _disposed;

    /// <param name="capacity">Positions the sequence may reach; its block table has room for that many.</param>
    public KvCache(KvCachePool pool, int capacity)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Pool = pool;
        Capacity = capacity;
        _blocks = new int[KvCachePool.BlocksFor(capacity)];
        _memory = new nint[_blocks.Length];
        _blocks.AsSpan().Fill(-1);
    }

    public KvCachePool Pool { get; }

    /// <summary>Positions the sequence may reach.</summary>
    public int Capacity { get; }

    public int Layers => Pool.Layers;

    public int KvDim => Pool.KvDim;

    public KvCacheType Type => Pool.Type;

    /// <summary>Entries of the block table: <see cref="Capacity"/> in whole blocks.</summary>
    public int BlockCount => _blocks.Length;

    /// <summary>Blocks the sequence holds now.</summary>
    public int BlocksHeld { get; private set; }

    /// <summary>Bytes of the blocks the sequence holds.</summary>
    public long ByteSize => BlocksHeld * Pool.BlockBytes;

    /// <summary>Whether the sequence holds its block <paramref name="block"/> (positions block * KeyBlock onwards).</summary>
    public bool Holds(int block) => _memory[block] != 0;

    /// <summary>
    /// Holds blocks for positions [<paramref name="from"/>, <paramref name="to"/>), renting those it lacks from the pool,
    /// all or none.
    /// </summary>
    /// <exception cref="KvCacheExhaustedException">The pool has too few free blocks.</exception>
    public void Reserve(int from, int to)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(to, Capacity);
        if (to <= from) return;
        int first = from / KeyBlock, last = (to - 1) / KeyBlock;
        int missing = 0;
        for (int b = first; b <= last; b++) if (_memory[b] == 0) missing++;
        if (missing == 0) return;
        Span<int> ids = missing <= 64 ? stackalloc int[missing] : new int[missing];
        Pool.Rent(ids);
        int next = 0;
        for (int b = first; b <= last; b++)
        {
            if (_memory[b] != 0) continue;
            _blocks[b] = ids[next++];
            _memory[b] = (nint)Pool.Address(_blocks[b]);
        }
        BlocksHeld += missing;
    }

    /// <summary>Gives back every block that holds no position below <paramref name="position"/> (after a rewind).</summary>
    public void ReleaseFrom(int position) => Release(KvCachePool.BlocksFor(Math.Max(position, 0)), _blocks.Length);

    /// <summary>Gives back every block whose positions are all below <paramref name="position"/> (out of a sliding window).</summary>
    public void ReleaseBefore(int position) => Release(0, Math.Min(Math.Max(position, 0) / KeyBlock, _blocks.Length));

    private void Release(int from, int to)
    {
        for (int b = from; b < to; b++)
        {
            if (_memory[b] == 0) continue;
            Pool.Return(_blocks[b]);
            _blocks[b] = -1;
            _memory[b] = 0;
            BlocksHeld--;
        }
    }

    /// <summary>
    /// Keys of <paramref name="layer"/> in the sequence's block <paramref name="block"/>: (kvDim, KeyBlock) elements of
    /// <see cref="Type"/>, key j of the block's position s at j * KeyBlock + s.
    /// </summary>
    public void* Keys(int layer, int block) => (byte*)_memory[block] + layer * Pool.LayerBytes;

    /// <summary>Values of <paramref name="layer"/> in block <paramref name="block"/>: (KeyBlock, kvDim) elements of <see cref="Type"/>.</summary>
    public void* Values(int layer, int block) => (byte*)Keys(layer, block) + (long)KvDim * KeyBlock * Pool.ElementSize;

    /// <summary>
    /// INT8 storage: the scales of <paramref name="layer"/>'s keys in block <paramref name="block"/>, (kvHeads, KeyBlock),
    /// that of head h at position s at h * KeyBlock + s; the values' scales follow in the same layout (<see cref="Int8KvBlock"/>).
    /// </summary>
    internal float* KeyScales(int layer, int block) => (float*)((byte*)Keys(layer, block) + 2L * KvDim * KeyBlock);

    /// <summary>INT8 storage: the scales of the values, (kvHeads, KeyBlock), after those of the keys.</summary>
    internal float* ValueScales(int layer, int block) => KeyScales(layer, block) + (long)(KvDim / Pool.HeadDim) * KeyBlock;

    /// <summary>
    /// Stores the key and value of <paramref name="position"/> in <paramref name="layer"/>; its block must be held. INT8
    /// storage quantizes them here, per head; positions of one block may be written from several threads at once.
    /// </summary>
    public void Write(int layer, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value) =>
        WritePart(layer, position, 0, key[..KvDim], value[..KvDim]);

    /// <summary>
    /// <see cref="Write"/> for part of the key and value: elements [<paramref name="first"/>, + length) of each, which
    /// with INT8 storage must be whole heads (of <see cref="KvCachePool.HeadDim"/>). Several threads may write different
    /// parts of one position at once: decode's attention writes each head's key and value just before it reads that
    /// head's keys, so the cache lines the write brings in are the ones the read needs.
    /// </summary>
    public void WritePart(int layer, int position, int first, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int block = position / KeyBlock, offset = position % KeyBlock, kvDim = KvDim, headDim = Pool.HeadDim;
        int count = key.Length, firstHead = first / headDim;
        if (count != value.Length || first < 0 || first + count > kvDim || (Type == KvCacheType.Int8 && (first % headDim != 0 || count % headDim != 0)))
            throw new ArgumentException($"The key and value parts must be alike and within {kvDim} (with INT8 storage, whole heads of {headDim}).", nameof(key));
        if (Type == KvCacheType.Int8)
        {
            Int8KvBlock.Quantize(key, headDim, (sbyte*)Keys(layer, block) + (long)first * KeyBlock + offset, KeyBlock,
                KeyScales(layer, block) + (long)firstHead * KeyBlock + offset);
            Int8KvBlock.Quantize(value, headDim, (sbyte*)Values(layer, block) + (long)offset * kvDim + first, 1,
                ValueScales(layer, block) + (long)firstHead * KeyBlock + offset);
            return;
        }
        if (Type == KvCacheType.Float16)
        {
            var keys = (Half*)Keys(layer, block) + (long)first * KeyBlock + offset;
            for (int j = 0; j < count; j++) keys[j * KeyBlock] = (Half)key[j];
            TensorPrimitives.ConvertToHalf(value, new Span<Half>((Half*)Values(layer, block) + (long)offset * kvDim + first, count));
            return;
        }
        var k = (float*)Keys(layer, block) + (long)first * KeyBlock + offset;
        for (int j = 0; j < count; j++) k[j * KeyBlock] = key[j];
        value.CopyTo(new Span<float>((float*)Values(layer, block) + (long)offset * kvDim + first, count));
    }

    /// <summary>The key and value of <paramref name="position"/> in <paramref name="layer"/>, as FP32 (INT8: as attention reads them).</summary>
    public void Read(int layer, int position, Span<float> key, Span<float> value)
    {
        int block = position / KeyBlock, offset = position % KeyBlock, kvDim = KvDim;
        if (Type == KvCacheType.Int8)
        {
            Int8KvBlock.Dequantize((sbyte*)Keys(layer, block) + offset, KeyBlock, KeyScales(layer, block) + offset, Pool.HeadDim, key[..kvDim]);
            Int8KvBlock.Dequantize((sbyte*)Values(layer, block) + (long)offset * kvDim, 1, ValueScales(layer, block) + offset, Pool.HeadDim, value[..kvDim]);
            return;
        }
        if (Type == KvCacheType.Float16)
        {
            var keys = (Half*)Keys(layer, block) + offset;
            for (int j = 0; j < kvDim; j++) key[j] = (float)keys[j * KeyBlock];
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)Values(layer, block) + (long)offset * kvDim, kvDim), value[..kvDim]);
            return;
        }
        var k = (float*)Keys(layer, block) + offset;
        for (int j = 0; j < kvDim; j++) key[j] = k[j * KeyBlock];
        new ReadOnlySpan<float>((float*)Values(layer, block) + (long)offset * kvDim, kvDim).CopyTo(value);
    }

    /// <summary>Gives every block back to the pool; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Release(0, _blocks.Length);
    }
}
